"""Versioned schema migrations (`storage/migrations/*.sql`), applied on start and safe to apply again.

Migrations are the files ``storage/migrations/NNNN_name.sql``, applied in order; ``{db}`` stands
for the database. Every statement is written to be idempotent (``IF NOT EXISTS``), and the
versions applied are recorded in ``{db}.schema_migrations``, so applying twice changes nothing and
a half-applied migration (a crash between statements) completes on the next start. ClickHouse 18.16
has no ``ADD COLUMN IF NOT EXISTS``: such a statement is run as a plain ``ADD COLUMN`` when
``system.columns`` says the column is missing, and skipped otherwise, on every engine alike.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from storage.backends import Backend
from storage.errors import StoreQueryError
from storage.sql import lit, render

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS {db}.schema_migrations
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_ms UInt64
)
ENGINE = ReplacingMergeTree(applied_ms)
ORDER BY version
"""


@dataclass(frozen=True)
class Migration:
    """One schema step: a version number, a name and its SQL statements."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]

    def statements(self) -> list[str]:
        """The SQL split into statements (``;`` at the end of a line ends one); comments dropped."""
        lines = [line for line in self.sql.splitlines() if not line.lstrip().startswith("--")]
        text = "\n".join(lines)
        return [s.strip() for s in re.split(r";\s*$", text, flags=re.MULTILINE) if s.strip()]


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """All migrations in a directory, by version; refuses gaps and duplicate versions."""
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file {path.name!r} is not named NNNN_name.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path.read_text()))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"migration versions must be 1, 2, 3, ... without gaps; found {versions}")
    return found


def applied_versions(backend: Backend, database: str) -> dict[int, str]:
    """Version -> checksum of the migrations recorded as applied."""
    rows = backend.query(render("SELECT version, any(checksum) FROM {db}.schema_migrations GROUP BY version", database))
    return {int(v): str(c) for v, c in rows}


def apply_migrations(
    backend: Backend, database: str, migrations: list[Migration] | None = None, *, create: bool = True
) -> list[int]:
    """Bring the schema up to date; return the versions applied now (empty when already current)."""
    migrations = load_migrations() if migrations is None else migrations
    if _current(backend, database, migrations):
        # nothing to do, and no DDL sent: a database user without DDL rights (``allow_ddl = 0``, the
        # console's application user) can open a store whose schema is up to date
        return []
    if create:
        backend.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    backend.command(render(_BOOTSTRAP, database))
    done = applied_versions(backend, database)
    applied: list[int] = []
    for migration in migrations:
        if migration.version in done:
            if done[migration.version] != migration.checksum:
                log.warning(
                    "migration %04d_%s changed since it was applied to %s (checksum %s, now %s); "
                    "applied migrations are never re-run: add a new migration instead",
                    migration.version,
                    migration.name,
                    database,
                    done[migration.version],
                    migration.checksum,
                )
            continue
        log.info("applying migration %04d_%s to %s", migration.version, migration.name, database)
        for statement in migration.statements():
            _run(backend, render(statement, database), database)
        backend.insert(
            f"{database}.schema_migrations",
            {
                "version": [migration.version],
                "name": [migration.name],
                "checksum": [migration.checksum],
                "applied_ms": [int(time.time() * 1000)],
            },
        )
        applied.append(migration.version)
    return applied


def _current(backend: Backend, database: str, migrations: list[Migration]) -> bool:
    """Whether every migration is recorded as applied (read-only checks: no statement changes anything)."""
    found = backend.query(
        f"SELECT name FROM system.tables WHERE database = {lit(database)} AND name = 'schema_migrations'"
    )
    if not found:
        return False
    done = applied_versions(backend, database)
    return all(m.version in done and done[m.version] == m.checksum for m in migrations)


_ADD_COLUMN = re.compile(
    r"^ALTER\s+TABLE\s+(?P<table>[\w.]+)\s+ADD\s+COLUMN\s+IF\s+NOT\s+EXISTS\s+(?P<column>\w+)\s", re.IGNORECASE
)


def _run(backend: Backend, statement: str, database: str) -> None:
    """Run one migration statement, guarding ``ADD COLUMN IF NOT EXISTS`` portably."""
    match = _ADD_COLUMN.match(statement)
    if match is None:
        backend.command(statement)
        return
    table = match.group("table").split(".")[-1]
    exists = backend.query(
        "SELECT name FROM system.columns "
        f"WHERE database = {lit(database)} AND table = {lit(table)} AND name = {lit(match.group('column'))}"
    )
    if exists:
        return
    try:
        backend.command(re.sub(r"\s+IF\s+NOT\s+EXISTS", "", statement, count=1, flags=re.IGNORECASE))
    except StoreQueryError:
        # another process opening the store at the same moment may have added it since the check
        if not backend.query(
            "SELECT name FROM system.columns "
            f"WHERE database = {lit(database)} AND table = {lit(table)} AND name = {lit(match.group('column'))}"
        ):
            raise


def database_exists(backend: Backend, database: str) -> bool:
    """Whether the database exists on the store."""
    return bool(backend.query(f"SELECT name FROM system.databases WHERE name = {lit(database)}"))


def schema_fingerprint(backend: Backend, database: str) -> list[tuple[str, str, str, str, str]]:
    """Tables, columns, types and defaults as the store sees them (to check that re-applying is a no-op)."""
    rows = backend.query(
        "SELECT table, name, type, default_kind, default_expression FROM system.columns "
        f"WHERE database = {lit(database)} ORDER BY table, name"
    )
    return [(str(a), str(b), str(c), str(d), str(e)) for a, b, c, d, e in rows]
