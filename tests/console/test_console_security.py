"""Security of the console: sessions, CSRF, roles, hostile input, headers, cookies, login throttling."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

import console.app as console_app
from console.web import CONTENT_SECURITY_POLICY, script_json
from tests.console.conftest import PASSWORD, USERS, ConsoleWorld, csrf_of, login, open_with_purpose

PAGES = ("/", "/queue", "/account/acc-x", "/operation/acc-x", "/overview", "/labels", "/admin/users", "/admin/audit")
HOSTILE = (
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "\\'; DROP TABLE slotguard.audit; --",
    '"><img src=x onerror=alert(1)>',
)


@pytest.mark.parametrize("path", PAGES)
def test_a_request_without_a_session_is_sent_to_sign_in(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


def test_every_form_without_its_csrf_token_is_refused(client: TestClient, console_world: ConsoleWorld) -> None:
    store = console_world.store
    account_id = console_world.flagged[5]
    page = client.get("/login")
    token = csrf_of(page.text)
    bad = client.post("/login", data={"username": USERS["investigator"], "password": PASSWORD}, follow_redirects=False)
    assert bad.status_code == 403 and "user" not in client.cookies.get("slotguard_session", "")
    other = TestClient(client.app)
    other.get("/login")
    foreign = other.post("/login", data={"username": USERS["investigator"], "password": PASSWORD, "csrf_token": token})
    assert foreign.status_code == 403  # another session's token
    csrf = login(client)
    open_with_purpose(client, "account", account_id, csrf)
    forms = [
        ("/purpose", {"kind": "account", "target": account_id, "purpose": "x"}),
        (f"/account/{account_id}/decide", {"decision": "confirm", "note": "forged"}),
        (f"/operation/{account_id}/decide", {"decision": "confirm", "note": "forged", "member": account_id}),
        ("/labels/export", {}),
        ("/admin/users", {"action": "add", "username": "mallory", "role": "admin", "password": "x" * 20}),
        ("/logout", {}),
    ]
    for path, data in forms:
        for token_value in (None, "wrong-token"):
            sent = dict(data) if token_value is None else {**data, "csrf_token": token_value}
            response = client.post(path, data=sent, follow_redirects=False)
            assert response.status_code == 403, path
            assert "form token" in response.text
    assert store.account(account_id)["decisions"] == []
    assert store.user("mallory") is None
    assert client.get("/queue", follow_redirects=False).status_code == 200  # still signed in: logout was refused


@pytest.mark.parametrize(
    ("role", "refused", "allowed"),
    [
        ("it", ("/queue", "/account/{a}", "/operation/{a}", "/labels", "/admin/users", "/admin/audit"), ("/overview",)),
        ("data-scientist", ("/queue", "/account/{a}", "/operation/{a}", "/admin/audit"), ("/labels", "/overview")),
        ("admin", ("/queue", "/account/{a}", "/operation/{a}", "/labels"), ("/admin/users", "/admin/audit")),
        ("investigator", ("/labels", "/admin/users", "/admin/audit"), ("/queue", "/overview")),
    ],
)
def test_roles_open_only_their_pages(
    client: TestClient, console_world: ConsoleWorld, role: str, refused: tuple[str, ...], allowed: tuple[str, ...]
) -> None:
    login(client, role)
    account_id = console_world.flagged[0]
    before = len(console_world.store.audit(target=account_id, limit=10_000))
    for path in refused:
        response = client.get(path.format(a=account_id), follow_redirects=False)
        assert response.status_code == 403, path
    for path in allowed:
        assert client.get(path).status_code == 200, path
    assert len(console_world.store.audit(target=account_id, limit=10_000)) == before  # a refused view reads nothing


def test_a_disabled_user_cannot_sign_in(client: TestClient) -> None:
    page = client.get("/login")
    response = client.post("/login", data={"username": "gone", "password": PASSWORD, "csrf_token": csrf_of(page.text)})
    assert response.status_code == 401 and "Wrong user name or password" in response.text


def test_hostile_input_in_every_filter_is_escaped_and_harmless(client: TestClient, console_world: ConsoleWorld) -> None:
    store = console_world.store
    csrf = login(client)
    account_id = console_world.flagged[0]
    open_with_purpose(client, "account", account_id, csrf)
    before = store.counts()
    for value in HOSTILE:
        for params in (
            {"site": value},
            {"reason": value},
            {"since": value},
            {"until": value},
            {"state": value},
            {"page": value},
        ):
            page = client.get("/queue", params=params)
            assert page.status_code == 200
            assert value not in page.text  # every one has a quote or a bracket, which are escaped
            assert "<script>alert(1)</script>" not in page.text and "<img src=x" not in page.text
        page = client.get("/queue", params={"site": value})
        assert "No flagged account matches" in page.text
        for params in ({"type": value}, {"reason": value}):
            page = client.get(f"/account/{account_id}", params=params)
            assert page.status_code == 200 and "<script>alert(1)</script>" not in page.text
        missing = client.get(f"/account/{value}")
        assert missing.status_code == 404 and "<script>alert(1)</script>" not in missing.text
        assert "&lt;script&gt;" in client.get("/account/<script>alert(1)</script>").text
    # what the filters saw is in the audit trail, verbatim, and nothing else changed
    assert any(e["detail"].get("site") == HOSTILE[2] for e in store.audit(action="search", limit=500))
    after = store.counts()
    assert {k: v for k, v in after.items() if k != "audit"} == {k: v for k, v in before.items() if k != "audit"}

    client.cookies.clear()
    login(client, "admin")
    for value in HOSTILE:
        page = client.get("/admin/audit", params={"username": value, "action": value, "target": value})
        assert page.status_code == 200 and "No entry." in page.text
        assert "<script>alert(1)</script>" not in page.text
    search = client.get("/admin/audit", params={"action": "search"})
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in search.text  # shown escaped, never as markup
    client.cookies.clear()
    login(client, "it")
    for value in HOSTILE:
        page = client.get("/overview", params={"site": value})
        assert page.status_code == 200 and "<script>alert(1)</script>" not in page.text


def test_embedded_json_cannot_close_its_script_block() -> None:
    text = script_json({"reason": "</script><script>alert(1)</script>", "amp": "a&b"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert __import__("json").loads(text)["reason"] == "</script><script>alert(1)</script>"


def test_security_headers_and_cookie_flags(client: TestClient) -> None:
    page = client.get("/login")
    for response in (page, client.get("/static/console.js")):
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert not re.search(r"<script(?![^>]*(src=|application/json))", page.text), "no inline script"
    cookie = page.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert f"Max-Age={console_app.SESSION_MAX_AGE_S}" in cookie
    assert "secure" not in cookie.lower()  # plain HTTP on loopback; --https-only adds it


def test_login_is_rate_limited_per_address_and_audited(client: TestClient, console_world: ConsoleWorld) -> None:
    token = csrf_of(client.get("/login").text)
    for _ in range(5):
        wrong = client.post("/login", data={"username": USERS["admin"], "password": "wrong", "csrf_token": token})
        assert wrong.status_code == 401
    right = client.post("/login", data={"username": USERS["admin"], "password": PASSWORD, "csrf_token": token})
    assert right.status_code == 429 and "Too many failed attempts" in right.text
    other_user = client.post("/login", data={"username": USERS["it"], "password": PASSWORD, "csrf_token": token})
    assert other_user.status_code == 429  # the address is throttled too
    failures = console_world.store.audit(username=USERS["admin"], action="login_failed", limit=10)
    assert len(failures) >= 5 and failures[0]["address"] == "testclient"


def test_sessions_expire_and_tampered_cookies_count_for_nothing(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    login(client)
    assert client.get("/queue", follow_redirects=False).status_code == 200
    cookie = client.cookies["slotguard_session"]
    client.cookies.set("slotguard_session", cookie[:-3] + ("aaa" if not cookie.endswith("aaa") else "bbb"))
    assert client.get("/queue", follow_redirects=False).status_code == 303
    client.cookies.set("slotguard_session", cookie)
    assert client.get("/queue", follow_redirects=False).status_code == 200
    real_time = console_app.time.time
    monkeypatch.setattr(console_app.time, "time", lambda: real_time() + console_app.SESSION_MAX_AGE_S + 1)
    assert client.get("/queue", follow_redirects=False).headers["location"].startswith("/login")


def test_sign_in_never_redirects_elsewhere(client: TestClient) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        page = client.get("/login", params={"next": target})
        response = client.post(
            "/login",
            data={"username": USERS["it"], "password": PASSWORD, "csrf_token": csrf_of(page.text), "next": target},
            follow_redirects=False,
        )
        assert response.headers["location"] == "/overview"
        client.cookies.clear()
