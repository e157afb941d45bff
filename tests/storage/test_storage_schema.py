"""Migrations: applied on open, recorded, and a no-op the second time (chDB and server)."""

from __future__ import annotations

import pytest

from storage import Store, StoreUnavailable, open_store
from storage.schema import Migration, apply_migrations, load_migrations, schema_fingerprint
from tests.storage.conftest import KEY

EXPECTED_TABLES = {
    "events",
    "entity_links",
    "entity_links_mv",
    "slot_events",
    "slot_events_mv",
    "dead_letters",
    "feature_sets",
    "snapshots",
    "verdicts",
    "current_verdicts",
    "current_verdicts_mv",
    "flags",
    "decisions",
    "models",
    "users",
    "audit",
    "schema_migrations",
}


def _tables(store: Store) -> set[str]:
    return {r[0] for r in store.backend.query(f"SELECT name FROM system.tables WHERE database = '{store.database}'")}


def test_open_applies_the_schema(store: Store) -> None:
    assert _tables(store) == EXPECTED_TABLES
    assert store.schema_version() == len(load_migrations())
    assert store.applied_migrations == [m.version for m in load_migrations()]


def test_migrations_applied_twice_change_nothing(store: Store, store_url: str) -> None:
    before = schema_fingerprint(store.backend, store.database)
    assert apply_migrations(store.backend, store.database) == []
    with open_store(store_url, pseudonym_key=KEY) as again:
        assert again.applied_migrations == []
    assert schema_fingerprint(store.backend, store.database) == before
    rows = store.backend.query(f"SELECT count(), uniqExact(version) FROM {store.database}.schema_migrations")
    assert rows[0] == (len(load_migrations()), len(load_migrations()))


def test_a_new_migration_is_applied_once(store: Store) -> None:
    extra = Migration(
        len(load_migrations()) + 1,
        "add_notes",
        "CREATE TABLE IF NOT EXISTS {db}.notes (id String) ENGINE = ReplacingMergeTree() ORDER BY id;",
    )
    migrations = [*load_migrations(), extra]
    assert apply_migrations(store.backend, store.database, migrations) == [extra.version]
    assert apply_migrations(store.backend, store.database, migrations) == []
    assert "notes" in _tables(store)


def test_read_only_open_refuses_a_missing_database(store_url: str) -> None:
    missing = store_url.replace("t_", "missing_", 1)
    with pytest.raises(StoreUnavailable, match=r"no slotguard history|no embedded store"):
        open_store(missing, pseudonym_key=KEY, create=False)
