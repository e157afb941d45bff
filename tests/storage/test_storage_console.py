"""The console's store queries on a small hand-built history (chDB and server): the queue's filters,
pages and counts per decision state; evidence per reason; handoff chains; operations; the overview;
users; the append-only audit trail.

The world: seller S (flagged) hands slot X to buyer B (4 s later) and slot V to buyer C; S shares a
device with farm sibling F (flagged) and with café user K (not flagged); F shares an address with
H (flagged, another site). R is flagged at another site, alone. Reasons are real sentences of the
model's wording, so their kinds are recognised.
"""

from __future__ import annotations

import uuid

import pytest

from storage import Store, StoreQueryError, UnknownAccount, open_store
from storage.evidence import classify
from storage.sql import render
from tests.clickhouse_server import ClickHouseServer
from tests.storage.builders import at, events, flag, line, searches, verdict
from tests.storage.conftest import KEY

POLLING = (
    "searched 5 times, every 1.0 s ± 0.0 s, with 1 h of sustained polling (>= 60/h) between "
    "2026-03-02 08:00 UTC and 2026-03-02 08:00 UTC (about 1 account in 500 at this site)"
)
HANDOFF = (
    "slot X cancelled and re-booked by another account 4 s later on average (2 times, to B, C; of 2 bookings)"
    " (an applicant's bookings end so by chance about 1 time in 400)"
)
SELLER = "handed slots to 2 accounts, likely its buyers (victims): B (slot X), C (slot V)"
UNSEARCHED = (
    "1 of 1 bookings made with no search of its own in the 30 min before (the slot was found by another account)"
)
DEVICE = "shares a device with 2 other accounts, 1 of which themselves book like holders (fast, ...)"


def _booking(account: str, t: float, slot: str, booking: str, **kw: object) -> str:
    return line(
        "booking_created",
        t,
        account_id=account,
        booking_id=booking,
        slot_id=slot,
        service="titre-sejour",
        slot_start=t + 86_400,
        applicant_id=f"P-{booking}",
        **kw,
    )


def _cancel(account: str, t: float, slot: str, booking: str) -> str:
    return line("booking_cancelled", t, account_id=account, booking_id=booking, slot_id=slot)


@pytest.fixture
def world(store: Store) -> Store:
    lines = [
        *searches("S", 5, start=10, device_id="dev-1"),
        _booking("S", 100, "X", "bk-s1", device_id="dev-1"),
        _booking("S", 110, "V", "bk-s2", device_id="dev-1"),
        _cancel("S", 200, "X", "bk-s1"),
        _booking("B", 204, "X", "bk-b1"),
        _cancel("S", 300, "V", "bk-s2"),
        _booking("C", 303, "V", "bk-c1"),
        _booking("F", 400, "W", "bk-f1", device_id="dev-1", ip="192.0.2.9"),
        *searches("K", 2, start=500, device_id="dev-1"),
        *searches("H", 2, start=600, ip="192.0.2.9", site="75-paris"),
        *searches("R", 2, start=700, site="75-paris"),
    ]
    writer = store.writer()
    writer.add_events(*events(lines))
    writer.add_verdicts(
        [
            verdict("S", 9.0, when=300, reasons=[POLLING, HANDOFF, SELLER]),
            verdict("F", 6.0, when=400, reasons=[UNSEARCHED, DEVICE]),
            verdict("H", 5.0, when=600, site="75-paris", reasons=[DEVICE]),
            verdict("R", 4.0, when=700, site="75-paris", reasons=[POLLING]),
            verdict("K", 0.5, flagged=False, when=500),
            verdict("B", 0.0, flagged=False, when=204, reasons=[]),
        ]
    )
    writer.add_flags([flag("S", 9.0, when=300)])
    assert writer.close().ok
    return store


def test_reason_sentences_are_classified_by_kind() -> None:
    assert [classify(r).name for r in (POLLING, HANDOFF, SELLER, UNSEARCHED, DEVICE)] == [  # type: ignore[union-attr]
        "polling",
        "handoff",
        "seller",
        "unsearched",
        "shared_infrastructure",
    ]
    assert classify("something this version never says") is None


def test_queue_filters_pages_and_counts_per_decision_state(world: Store) -> None:
    assert [r["account_id"] for r in world.flagged()] == ["S", "F", "H", "R"]
    assert [r["account_id"] for r in world.flagged(offset=1, limit=2)] == ["F", "H"]
    assert [r["account_id"] for r in world.flagged(site="75-paris")] == ["H", "R"]
    assert [r["account_id"] for r in world.flagged(reason_kind="polling")] == ["S", "R"]
    assert [r["account_id"] for r in world.flagged(reason_kind="shared_infrastructure")] == ["F", "H"]
    assert [r["account_id"] for r in world.flagged(since=at(350), until=at(650))] == ["F", "H"]
    with pytest.raises(ValueError, match="unknown reason kind"):
        world.flagged(reason_kind="nonsense")

    assert world.queue_counts() == {"undecided": 4, "confirm": 0, "dismiss": 0, "escalate": 0, "all": 4}
    world.decide("S", "escalate", "two handoffs", "alice")
    world.decide("S", "confirm", "confirmed after review", "alice")  # the latest counts
    world.decide("H", "dismiss", "a VPN office", "bob")
    assert world.queue_counts() == {"undecided": 2, "confirm": 1, "dismiss": 1, "escalate": 0, "all": 4}
    assert world.queue_counts(site="75-paris") == {"undecided": 1, "confirm": 0, "dismiss": 1, "escalate": 0, "all": 2}
    assert [r["account_id"] for r in world.flagged(decision="undecided")] == ["F", "R"]
    assert [r["account_id"] for r in world.flagged(decision="confirm")] == ["S"]
    assert [r["account_id"] for r in world.flagged(decision="dismiss")] == ["H"]
    assert world.flagged(decision="escalate") == []
    top = world.flagged(limit=1)[0]
    assert (top["decision"], top["decided_by"]) == ("confirm", "alice")


def test_filters_are_parameterised_not_interpreted(world: Store) -> None:
    for hostile in ("' OR 1=1 --", "75-paris' OR site != '", "\\'; DROP TABLE flags; --", "<script>alert(1)</script>"):
        assert world.flagged(site=hostile) == []
        assert world.queue_counts(site=hostile)["all"] == 0
        assert world.audit(username=hostile, target=hostile) == []
    assert len(world.flagged()) == 4  # nothing was dropped


def test_evidence_names_the_events_behind_each_reason(world: Store) -> None:
    view = world.account("S")
    found = {r["kind"]: r for r in world.evidence(view)}
    assert set(found) == {"polling", "handoff", "seller"}
    ids = {e["event_id"]: e for e in view["events"]}
    assert found["polling"]["events_total"] == 5
    assert {ids[i]["type"] for i in found["polling"]["event_ids"]} == {"slot_search"}
    # the handed-over slots' cancellations, and nothing else
    assert sorted(ids[i]["slot_id"] for i in found["handoff"]["event_ids"]) == ["V", "X"]
    assert {ids[i]["type"] for i in found["handoff"]["event_ids"]} == {"booking_cancelled"}
    assert found["seller"]["family"] == "resale" and found["seller"]["family_kind"] == "holding"
    shown = world.events_by_id("S", found["handoff"]["event_ids"])
    assert [e["slot_id"] for e in shown] == ["X", "V"]
    # the device reason of F: its events on the device it shares with others
    f_view = world.account("F")
    f_found = {r["kind"]: r for r in world.evidence(f_view)}
    assert f_found["shared_infrastructure"]["events_total"] == 1
    assert f_found["unsearched"]["events_total"] == 1  # its booking had no search of its own before


def test_handoff_chains_and_score_history(world: Store) -> None:
    chains = world.handoff_chains("S")
    assert [(c["slot_id"], [(h["from"], h["to"], h["gap_s"]) for h in c["hops"]]) for c in chains] == [
        ("X", [("S", "B", 4.0)]),
        ("V", [("S", "C", 3.0)]),
    ]
    assert world.handoff_chains("B")[0]["hops"][0]["from"] == "S"
    assert world.handoff_chains("R") == []
    # the account view gives the same chains from the reads of its handoffs
    assert world.account("S", chains=True)["handoff_chains"] == chains
    assert world.account("R", chains=True)["handoff_chains"] == []
    assert "handoff_chains" not in world.account("S")
    history = world.score_history("S")
    assert history["threshold"] == 0.5  # from its flag
    assert history["points"] == []  # no snapshots written in this world


def test_operation_follows_handoffs_and_infrastructure_shared_with_flagged_accounts(world: Store) -> None:
    op = world.operation("S")
    members = {m["account_id"]: m for m in op["members"]}
    # B and C through handoffs (members, not expanded), F through the device (flagged), H through F's
    # address (flagged); K shares the device but is not suspicious; R is unrelated
    assert set(members) == {"S", "B", "C", "F", "H"}
    assert (members["S"]["depth"], members["F"]["depth"], members["H"]["depth"]) == (0, 1, 2)
    assert op["flagged"] == 3
    kinds = {(e["a"], e["b"], e["kind"]) for e in op["edges"]}
    assert ("S", "B", "handoff") in kinds and ("S", "C", "handoff") in kinds
    assert ("F", "S", "device") in kinds and ("F", "H", "ip") in kinds
    capped = world.operation("S", max_accounts=2)
    assert len(capped["members"]) == 2 and capped["truncated"]
    with pytest.raises(UnknownAccount):
        world.operation("nobody")


def test_overview_counts_flags_handoffs_and_dismissed_per_day_and_site(world: Store) -> None:
    world.decide("H", "dismiss", "VPN office", "bob")
    data = world.overview()
    by_site = {(d["day"], d["site"]): d for d in data["days"]}
    day = at(0).date().isoformat()
    assert by_site[(day, "93-bobigny")]["flags"] == 2  # S (verdict and flag) and F
    assert by_site[(day, "93-bobigny")]["handoffs"] == 2
    assert by_site[(day, "75-paris")] == {"day": day, "site": "75-paris", "flags": 2, "handoffs": 0, "dismissed": 1}
    kinds = {k["kind"]: k["accounts"] for k in data["reason_kinds"]}
    assert kinds["polling"] == 2 and kinds["shared_infrastructure"] == 2
    assert data["flagged_now"] == 4
    assert world.overview(site="75-paris")["sites"] == ["75-paris"]


def test_users_are_versioned_rows_and_the_audit_trail_only_grows(store: Store) -> None:
    assert store.user("alice") is None
    store.save_user("alice", "investigator", "hash-1", disabled=False, by="root")
    store.save_user("alice", "investigator", "hash-1", disabled=True, by="root")
    alice = store.user("alice")
    assert alice is not None and alice["disabled"] and alice["password_hash"] == "hash-1"
    assert [(u["username"], u["disabled"]) for u in store.users()] == [("alice", True)]
    assert "password_hash" not in store.users()[0]

    first = store.audit_append(username="alice", role="investigator", action="view_account", target="S", purpose="p")
    for _ in range(2):  # identical entries are two entries
        store.audit_append(username="alice", role="investigator", action="search", detail={"site": "x"})
    store.audit_append(username="bob", role="investigator", action="decide", target="S", session_id="s1")
    assert len(store.audit()) == 4
    assert [r["action"] for r in store.audit(username="alice", action="search")] == ["search", "search"]
    assert store.audit(target="S", action="view_account")[0]["audit_id"] == first["audit_id"]
    assert store.audit(session_id="s1")[0]["username"] == "bob"
    assert store.audit(limit=1, offset=3)[0]["audit_id"] == first["audit_id"]  # newest first
    assert store.audit(username="alice", action="search")[0]["detail"] == {"site": "x"}
    assert store.counts()["audit"] == 4


def test_no_store_method_can_change_or_remove_audit_rows() -> None:
    """The application's only statement on the audit table is an insert: no ALTER/DELETE/TRUNCATE/DROP
    mentions it anywhere in the store or the console."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for path in [*sorted((root / "storage").glob("*.py")), *sorted((root / "console").glob("*.py"))]:
        for number, text in enumerate(path.read_text().splitlines(), 1):
            lowered = text.lower()
            if "audit" in lowered:
                for verb in ("alter table", "delete from", "truncate", "drop table", "optimize table", " update "):
                    assert verb not in lowered, f"{path.name}:{number} touches the audit table: {text.strip()}"


@pytest.mark.integration
def test_the_application_database_user_cannot_change_or_remove_audit_rows(clickhouse_server: ClickHouseServer) -> None:
    """On the server, the console runs as `slotguard_app` (profile allow_ddl=0, scripts/clickhouse.sh):
    it opens a migrated store and appends to the audit trail, and the server refuses it every statement
    that would change or remove rows (ClickHouse 18.16 has no GRANT: this is what it can enforce)."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    with open_store(f"{clickhouse_server.base_url}/{database}", pseudonym_key=KEY) as admin:
        admin.audit_append(username="alice", role="investigator", action="view_account", target="S", purpose="p")
    app_url = f"clickhouse://slotguard_app:slotguard-app@127.0.0.1:{clickhouse_server.tcp_port}/{database}"
    try:
        with open_store(app_url, pseudonym_key=KEY, create=False) as app:
            app.audit_append(username="alice", role="investigator", action="search")
            for statement in (
                "ALTER TABLE {db}.audit DELETE WHERE 1",
                "ALTER TABLE {db}.audit UPDATE purpose = 'forged' WHERE 1",
                "ALTER TABLE {db}.audit DROP PARTITION tuple()",
                "TRUNCATE TABLE {db}.audit",
                "DROP TABLE {db}.audit",
                "RENAME TABLE {db}.audit TO {db}.audit_gone",
                "OPTIMIZE TABLE {db}.audit FINAL",
            ):
                with pytest.raises(StoreQueryError, match="DDL queries are prohibited"):
                    app.backend.command(render(statement, database))
            with pytest.raises(StoreQueryError, match="allow_ddl"):
                app.backend.query("SELECT 1 SETTINGS allow_ddl = 1")
            rows = app.audit()
            assert [r["action"] for r in rows] == ["search", "view_account"]
            assert rows[1]["purpose"] == "p"
    finally:
        with open_store(f"{clickhouse_server.base_url}/{database}", pseudonym_key=KEY) as cleanup:
            cleanup.backend.command(f"DROP DATABASE IF EXISTS {database}")


def test_the_engine_tells_automation_agents_as_the_features_do(store: Store) -> None:
    """Evidence asks the engine (RE2 ``match``) which requests came from automation agents: it must
    agree with ``features.infra.is_automation_agent`` (Python ``re``)."""
    from features.infra import is_automation_agent
    from storage.evidence import AUTOMATION_PATTERN
    from storage.sql import lit

    agents = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
        "python-requests/2.31.0",
        "Python-urllib/3.11",
        "curl/8.5.0",
        "CURL/8.0",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36",
        "okhttp/4.12.0",
        "Go-http-client/2.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
        "Java/17.0.2",
        "JavaScript enthusiast's browser",
        "",
    ]
    rows = store.backend.query(
        f"SELECT ua, match(ua, {lit(AUTOMATION_PATTERN)}) FROM (SELECT arrayJoin({lit(agents)}) AS ua)"
    )
    engine = {ua: bool(flag) for ua, flag in rows}
    assert {ua: engine[ua] for ua in agents} == {ua: is_automation_agent(ua) for ua in agents}
    assert sum(engine.values()) == 8
