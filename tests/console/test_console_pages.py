"""Console pages through Starlette's test client, over a detected small world: what each role sees,
that the pages show what the store's query functions return, and that views, searches and
decisions reach the audit trail."""

from __future__ import annotations

import json
import re

from markupsafe import escape
from starlette.testclient import TestClient

import console.app as console_app
from tests.console.conftest import USERS, ConsoleWorld, csrf_of, login, open_with_purpose

_ROW_ACCOUNT = re.compile(r'<td><a href="/account/([^"]+)">')


def _json_block(html: str, element_id: str) -> object:
    match = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html, re.S)
    assert match, f"no {element_id} block"
    return json.loads(match.group(1))


def test_each_role_lands_on_its_own_page(client: TestClient) -> None:
    for role, home in (
        ("investigator", "/queue"),
        ("it", "/overview"),
        ("data-scientist", "/labels"),
        ("admin", "/admin/audit"),
    ):
        client.cookies.clear()
        page = client.get("/login")
        response = client.post(
            "/login",
            data={
                "username": USERS[role],
                "password": "correct horse battery staple",
                "csrf_token": csrf_of(page.text),
            },
            follow_redirects=False,
        )
        assert (response.status_code, response.headers["location"]) == (303, home)


def test_queue_shows_the_store_ranking_with_counts_pages_and_filters(
    client: TestClient, console_world: ConsoleWorld
) -> None:
    login(client)
    store = console_world.store
    first = client.get("/queue")
    assert first.status_code == 200
    expected = [r["account_id"] for r in store.flagged(limit=25)]
    assert _ROW_ACCOUNT.findall(first.text) == expected
    counts = store.queue_counts()
    assert f"all <b>{counts['all']}</b>" in first.text and f"undecided <b>{counts['undecided']}</b>" in first.text
    second = client.get("/queue?page=2")
    assert _ROW_ACCOUNT.findall(second.text) == [r["account_id"] for r in store.flagged(offset=25, limit=25)]
    assert 'rel="prev"' in second.text

    site = store.flagged(limit=1)[0]["site"]
    by_site = client.get("/queue", params={"site": site})
    assert _ROW_ACCOUNT.findall(by_site.text) == [r["account_id"] for r in store.flagged(site=site, limit=25)]
    kind = "polling" if store.flagged(reason_kind="polling", limit=1) else "identity"
    by_kind = client.get("/queue", params={"reason": kind})
    assert _ROW_ACCOUNT.findall(by_kind.text) == [r["account_id"] for r in store.flagged(reason_kind=kind, limit=25)]
    day = store.flagged(limit=1)[0]["flagged_at"][:10]
    by_day = client.get("/queue", params={"since": day, "until": day})
    shown = _ROW_ACCOUNT.findall(by_day.text)
    assert shown and all(
        r["flagged_at"].startswith(day) for r in store.flagged(limit=10_000) if r["account_id"] in shown
    )
    searches = store.audit(username=USERS["investigator"], action="search", limit=5)
    assert searches[0]["detail"]["since"] == day and searches[1]["detail"]["reason"] == kind


def test_account_page_asks_the_purpose_then_shows_evidence_and_is_audited(
    client: TestClient, console_world: ConsoleWorld
) -> None:
    csrf = login(client)
    account_id = console_world.flagged[0]
    html = open_with_purpose(client, "account", account_id, csrf, purpose="flag review for the prefecture")
    view = console_world.store.account(account_id, max_events=console_app.TIMELINE_EVENTS)
    assert f"Account {account_id}" in html and "flagged" in html
    for reason in view["verdict"]["reasons"]:
        assert str(escape(reason)) in html
    timeline_ids = re.findall(r'<tr data-event="([^"]+)">', html)
    latest = [e["event_id"] for e in view["events"]]
    # the latest events, and the first events behind each reason even when they are older
    assert set(latest) <= set(timeline_ids)
    behind = {i for r in console_world.store.evidence(view) for i in r["event_ids"][: console_app.EVIDENCE_IN_TIMELINE]}
    assert set(timeline_ids) - set(latest) <= behind
    evidence = _json_block(html, "evidence-data")
    assert isinstance(evidence, dict) and len(evidence) == len(view["verdict"]["reasons"])
    assert all(set(found["ids"]) <= set(timeline_ids) for found in evidence.values())
    assert any(found["ids"] for found in evidence.values()), "some reason's events must be in the timeline"
    chart = _json_block(html, "score-data")
    assert isinstance(chart, dict) and chart["points"] and chart["threshold"] is not None
    graph = _json_block(html, "graph-data")
    assert isinstance(graph, dict) and graph["nodes"][0]["id"] == account_id

    views = console_world.store.audit(target=account_id, action="view_account")
    assert views[0]["purpose"] == "flag review for the prefecture" and views[0]["username"] == USERS["investigator"]
    again = client.get(f"/account/{account_id}")  # same session: no purpose asked again
    assert "Why are you opening" not in again.text
    assert console_world.store.audit(target=account_id, action="view_account")[0]["purpose"] == ""


def test_a_reason_lists_exactly_its_events(client: TestClient, console_world: ConsoleWorld) -> None:
    csrf = login(client)
    account_id = console_world.flagged[1]
    open_with_purpose(client, "account", account_id, csrf)
    reasons = console_world.store.evidence(console_world.store.account(account_id))
    index = max(range(len(reasons)), key=lambda i: reasons[i]["events_total"])
    page = client.get(f"/account/{account_id}", params={"reason": index})
    shown = re.findall(r'<tr data-event="([^"]+)">', page.text)
    assert shown and set(shown) == set(reasons[index]["event_ids"][: console_app.TIMELINE_EVENTS])
    only_type = reasons[index]["event_types"][0]
    filtered = client.get(f"/account/{account_id}", params={"reason": index, "type": only_type})
    rows = re.findall(r'<tr data-event="[^"]+">\s*<td>[^<]*</td><td>([^<]+)</td>', filtered.text)
    assert rows and set(rows) == {only_type}


def test_a_decision_is_stored_as_decide_stores_it_and_shown(client: TestClient, console_world: ConsoleWorld) -> None:
    csrf = login(client)
    account_id = console_world.flagged[2]
    open_with_purpose(client, "account", account_id, csrf)
    refused = client.post(
        f"/account/{account_id}/decide", data={"decision": "confirm", "note": "  ", "csrf_token": csrf}
    )
    assert "needs one of confirm" in refused.text
    assert console_world.store.account(account_id)["decisions"] == []
    page = client.post(
        f"/account/{account_id}/decide",
        data={"decision": "confirm", "note": "12 bookings within 1 s, never attended", "csrf_token": csrf},
    )
    assert f"Recorded: confirm on {account_id}" in page.text and "12 bookings within 1 s, never attended" in page.text
    decisions = console_world.store.account(account_id)["decisions"]
    assert [(d["decision"], d["by"]) for d in decisions] == [("confirm", USERS["investigator"])]
    assert console_world.store.audit(target=account_id, action="decide")[0]["detail"]["decision"] == "confirm"
    labels = {row["account_id"]: row["label"] for row in console_world.store.labels()}
    assert labels[account_id] == 1


def test_operation_page_shows_the_group_and_judges_it_once(client: TestClient, console_world: ConsoleWorld) -> None:
    csrf = login(client)
    store = console_world.store
    root = next(a for a in console_world.flagged if store.operation(a)["flagged"] >= 3)
    op = store.operation(root)
    html = open_with_purpose(client, "operation", root, csrf, purpose="operation review")
    members = re.findall(r'name="member" value="([^"]+)"', html)
    assert members == [m["account_id"] for m in op["members"]]
    ticked = re.findall(r'name="member" value="([^"]+)" checked', html)
    assert ticked == [m["account_id"] for m in op["members"] if m["flagged"]]
    viewed = store.audit(target=root, action="view_operation")[0]
    assert viewed["purpose"] == "operation review" and viewed["detail"]["members"] == members
    chosen = ticked[:2]
    client.post(
        f"/operation/{root}/decide",
        data={"decision": "escalate", "note": "same device farm", "member": chosen, "csrf_token": csrf},
    )
    for member in chosen:
        last = store.account(member)["decisions"][-1]
        assert (last["decision"], last["note"]) == ("escalate", f"[operation of {root}] same device farm")


def test_data_scientists_export_the_labels(client: TestClient, console_world: ConsoleWorld) -> None:
    console_world.store.decide(console_world.flagged[3], "dismiss", "an association's volunteer", "ines")
    csrf = login(client, "data-scientist")
    page = client.get("/labels")
    assert "Export labels" in page.text
    export = client.post("/labels/export", data={"csrf_token": csrf})
    assert export.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in export.text.splitlines()]
    assert rows == console_world.store.labels()
    assert console_world.store.audit(action="export_labels")[0]["username"] == USERS["data-scientist"]


def test_it_sees_the_site_overview(client: TestClient, console_world: ConsoleWorld) -> None:
    login(client, "it")
    page = client.get("/overview")
    assert page.status_code == 200
    data = _json_block(page.text, "overview-data")
    assert data == json.loads(json.dumps(console_world.store.overview()))
    assert f"{len(console_world.flagged)} accounts flagged now" in page.text


def test_admin_reads_the_audit_and_manages_users(client: TestClient, console_world: ConsoleWorld) -> None:
    investigator = TestClient(client.app)
    csrf_i = login(investigator)
    open_with_purpose(investigator, "account", console_world.flagged[4], csrf_i, purpose="audit trail test")
    csrf = login(client, "admin")
    audit = client.get("/admin/audit", params={"target": console_world.flagged[4]})
    assert "audit trail test" in audit.text and "view_account" in audit.text
    client.post(
        "/admin/users",
        data={
            "action": "add",
            "username": "nora",
            "role": "investigator",
            "password": "a long enough pw",
            "csrf_token": csrf,
        },
    )
    assert console_world.store.user("nora")["role"] == "investigator"  # type: ignore[index]
    nora = TestClient(client.app)
    page = nora.get("/login")
    ok = nora.post(
        "/login",
        data={"username": "nora", "password": "a long enough pw", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert ok.headers["location"] == "/queue"
    client.post("/admin/users", data={"action": "disable", "username": "nora", "csrf_token": csrf})
    assert console_world.store.user("nora")["disabled"]  # type: ignore[index]
    assert nora.get("/queue", follow_redirects=False).headers["location"] == "/login"  # the session ends at once
    assert [e["action"] for e in console_world.store.audit(target="nora", limit=2)] == ["user_disable", "user_add"]
