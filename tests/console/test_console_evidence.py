"""On a detected simulated world, the evidence selected in SQL is the old Python selection's, for every
flagged account and every buyer of one (the model's own reason sentences, all the kinds it states)."""

from __future__ import annotations

from tests.console.conftest import ConsoleWorld
from tests.storage.evidence_reference import reference_evidence


def test_sql_evidence_matches_the_python_selection_on_a_detected_world(console_world: ConsoleWorld) -> None:
    store = console_world.store
    accounts = list(console_world.flagged)
    buyers = {b for v in store.verdicts_of(accounts).values() for b in v["buyers"]}
    kinds: set[str] = set()
    for account_id in [*accounts, *sorted(buyers)]:
        view = store.account(account_id, max_events=1, shared_activity=False)
        found = store.evidence(view)
        assert found == reference_evidence(store, view), account_id
        kinds.update(r["kind"] for r in found if r["events_total"])
    # the world's reasons cover the kinds that read the most events
    assert {"polling", "automation", "shared_infrastructure"} <= kinds, kinds
