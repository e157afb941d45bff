"""`detect --store`: the run's events, snapshots, verdicts and flags land in the history store,
and the investigator queries see them (the same test on chDB and on a real ClickHouse server)."""

from __future__ import annotations

import io
import json

from ingest.pseudonym import Pseudonymizer
from slotguard.config import resolve
from slotguard.runner import detect
from storage import open_store
from tests.conftest import KEY, SmallWorld


def test_detect_persists_history_that_investigators_can_query(small_world: SmallWorld, store_url: str) -> None:
    settings = resolve(environ={"SLOTGUARD_PSEUDONYM_KEY": KEY})
    pseudonymizer = Pseudonymizer(KEY)
    with open_store(store_url, pseudonym_key=KEY) as store:
        store.register_model(small_world.model.metadata)
        writer = store.writer(pseudonymizer=pseudonymizer)
        out = io.BytesIO()
        summary, detector = detect(
            small_world.events,
            small_world.model,
            settings,
            verdicts_out=out,
            dead_letters=None,
            history=writer,
            pseudonymizer=pseudonymizer,
        )
        assert summary.history["unwritten"] == 0
        counts = store.counts()
        assert counts["events"] == summary.read.valid
        assert counts["verdicts"] == summary.accounts
        flagged_ids = {v.account_id for v in detector.results() if v.flagged}
        assert counts["flags"] == len(flagged_ids) > 0
        # a buyer re-scored at once when its seller is flagged has a second snapshot at the same event
        # time: the store keeps one row per (account, time)
        scored = summary.engine.scored_rows
        assert scored - summary.engine.scoring_facts <= counts["snapshots"] <= scored

        rows = store.flagged(limit=1000)
        assert {r["account_id"] for r in rows} == flagged_ids
        assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
        assert all(r["reasons"] for r in rows)

        top = rows[0]["account_id"]
        account = store.account(top)
        assert account["verdict"]["flagged"] and account["verdict"]["model_version"] == small_world.model.version
        own = [json.loads(line) for line in small_world.events.read_text().splitlines()]
        own = [e for e in own if e.get("account_id") == top]
        timeline = account["events"]
        # the timeline holds the latest events, in time order
        assert [e["event_id"] for e in timeline] == [e["event_id"] for e in own][-len(timeline) :]
        times = [e["ts"] for e in timeline]
        assert times == sorted(times)
        assert set(account["linked"]) >= {"shared_devices", "shared_addresses", "handoffs_out", "handoffs_in"}
        # no address is stored in the clear
        stored = json.dumps(timeline)
        assert all(e["ip"] not in stored for e in own if e.get("ip"))
        assert store.models()[0]["version"] == small_world.model.version
