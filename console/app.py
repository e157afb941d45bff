"""The console's pages: sign-in, queue, account, operation, decisions, overview, labels, users, audit.

Every page reads the store through ``storage.Store``'s query functions (the ones the CLI uses)
behind a :class:`~console.web.StoreGate`. Access control is one decorator, :func:`guarded`: no
session -> redirect to sign-in; wrong role -> 403; a POST without its session's CSRF token -> 403.
Every view of an account or operation page, every queue search and every decision is written to
the audit trail before the page is returned; the first view of an account (or operation) in a
session asks for the purpose first.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlencode

import jinja2
import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from console.auth import HOME, ROLES, LoginThrottle, allowed, check_role, hash_password, verify_password
from console.web import SecurityHeaders, StoreGate, new_token, next_day, parse_day, same_token, script_json
from storage import DECISIONS, Store, UnknownAccount
from storage.evidence import KINDS_BY_NAME, REASON_KINDS
from storage.store import QUEUE_STATES

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
PAGE_SIZE: Final = 25
TIMELINE_EVENTS: Final = 300
#: the event fields the timeline shows (templates/account.html): only their columns are read
TIMELINE_FIELDS: Final = (
    "event_id",
    "ts",
    "type",
    "site",
    "device_id",
    "ip",
    "slot_id",
    "booking_id",
    "service",
    "results",
    "applicant_id",
    "reason",
    "success",
    "user_agent",
)
#: events behind each reason added to the timeline when they are older than its latest events
EVIDENCE_IN_TIMELINE: Final = 20
#: a session ends this long after sign-in, whatever happens (the cookie's own expiry is the same)
SESSION_MAX_AGE_S: Final = 8 * 3600
#: how long a looked-up user (role, disabled) is trusted before the store is asked again
USER_CACHE_S: Final = 5.0
MAX_NOTE: Final = 4000
MAX_PURPOSE: Final = 500
SESSION_COOKIE: Final = "slotguard_session"

Endpoint = Callable[[Request], Awaitable[Response]]


class Console:
    """The application's state: the store gate, the templates, the login throttle, the user cache."""

    def __init__(self, store: Store, throttle: LoginThrottle) -> None:
        self.gate = StoreGate(store)
        self.throttle = throttle
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
        env.filters["q"] = lambda value: quote(str(value), safe="")
        env.filters["short_time"] = lambda value: (str(value or "")[:19]).replace("T", " ")
        env.filters["score"] = lambda value: "-" if value is None else f"{float(value):.2f}"
        self.templates = Jinja2Templates(env=env)
        self._users: dict[str, tuple[float, dict[str, Any] | None]] = {}
        #: (session id, page kind, target) already justified in this process (saves an audit lookup)
        self.justified: set[tuple[str, str, str]] = set()

    async def user(self, username: str) -> dict[str, Any] | None:
        """The user's current record (cached a few seconds), or None."""
        cached = self._users.get(username)
        now = time.monotonic()
        if cached is not None and now - cached[0] < USER_CACHE_S:
            return cached[1]
        found = await self.gate.call(self.gate.store.user, username)
        self._users[username] = (now, found)
        return found

    def forget(self, username: str) -> None:
        self._users.pop(username, None)

    def render(self, request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
        session = request.session
        base = {
            "me": request.state.user if hasattr(request.state, "user") else None,
            "csrf": session.get("csrf", ""),
            "flash": session.pop("flash", None),
            "allowed": allowed,
        }
        return self.templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def _console(request: Request) -> Console:
    found = request.app.state.console
    assert isinstance(found, Console)
    return found


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


async def _audit(request: Request, action: str, target: str = "", purpose: str = "", **detail: Any) -> None:
    user = request.state.user
    console = _console(request)
    await console.gate.call(
        console.gate.store.audit_append,
        username=user["username"],
        role=user["role"],
        action=action,
        target=target,
        purpose=purpose,
        address=_address(request),
        session_id=request.session.get("sid", ""),
        detail=detail,
    )


def guarded(permission: str) -> Callable[[Endpoint], Endpoint]:
    """Sign-in, role and (for POST) CSRF checks around an endpoint."""

    def wrap(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def checked(request: Request) -> Response:
            console = _console(request)
            session = request.session
            username = session.get("user")
            started = session.get("login_at", 0)
            if not username or time.time() - float(started) > SESSION_MAX_AGE_S:
                session.clear()
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)
            user = await console.user(username)
            if user is None or user["disabled"] or user["role"] != session.get("role"):
                session.clear()
                return RedirectResponse("/login", status_code=303)
            request.state.user = user
            if request.method == "POST":
                form = await request.form()
                if not same_token(session.get("csrf"), form.get("csrf_token")):
                    return console.render(
                        request,
                        "error.html",
                        403,
                        title="Refused",
                        message="Missing or stale form token: reload the page and try again.",
                    )
            if not allowed(user["role"], permission):
                return console.render(
                    request,
                    "error.html",
                    403,
                    title="Not for your role",
                    message=f"Your role ({user['role']}) cannot open this page.",
                )
            return await endpoint(request)

        return checked

    return wrap


# --- sign-in ----------------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str | None:
    """Only a local path (no scheme, no //host) may be a redirect target after sign-in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


async def login_page(request: Request) -> Response:
    console = _console(request)
    if "csrf" not in request.session:
        request.session["csrf"] = new_token()
    return console.render(request, "login.html", next=_safe_next(request.query_params.get("next")) or "", error=None)


async def login(request: Request) -> Response:
    console = _console(request)
    form = await request.form()
    session = request.session
    if not same_token(session.get("csrf"), form.get("csrf_token")):
        return console.render(
            request, "error.html", 403, title="Refused", message="Missing or stale form token: reload the sign-in page."
        )
    username = str(form.get("username", "")).strip()[:100]
    password = str(form.get("password", ""))
    address = _address(request)
    wait = console.throttle.retry_after(address, username)
    if wait > 0:
        return console.render(
            request, "login.html", 429, next="", error=f"Too many failed attempts: try again in {int(wait) + 1} s."
        )
    user = await console.gate.call(console.gate.store.user, username) if username else None
    ok = (
        verify_password(user["password_hash"] if user else None, password) and user is not None and not user["disabled"]
    )
    store = console.gate.store
    if not ok:
        console.throttle.failed(address, username)
        await console.gate.call(store.audit_append, username=username, role="", action="login_failed", address=address)
        return console.render(
            request, "login.html", 401, next=form.get("next", ""), error="Wrong user name or password."
        )
    assert user is not None
    console.throttle.succeeded(username)
    session.clear()  # a new session: no fixation
    session.update(
        {
            "user": user["username"],
            "role": user["role"],
            "sid": new_token(),
            "csrf": new_token(),
            "login_at": time.time(),
        }
    )
    await console.gate.call(
        store.audit_append,
        username=user["username"],
        role=user["role"],
        action="login",
        address=address,
        session_id=session["sid"],
    )
    target = _safe_next(str(form.get("next", ""))) or HOME[user["role"]]
    return RedirectResponse(target, status_code=303)


@guarded("overview")
async def logout(request: Request) -> Response:
    await _audit(request, "logout")
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@guarded("overview")
async def home(request: Request) -> Response:
    return RedirectResponse(HOME[request.state.user["role"]], status_code=303)


# --- the queue ----------------------------------------------------------------------------------------


@guarded("queue")
async def queue(request: Request) -> Response:
    console = _console(request)
    params = request.query_params
    errors: list[str] = []
    site = params.get("site", "").strip()[:100] or None
    reason = params.get("reason", "") or None
    if reason is not None and reason not in KINDS_BY_NAME:
        errors.append("unknown reason kind: ignored")
        reason = None
    state = params.get("state", "all")
    if state not in ("all", *QUEUE_STATES):
        errors.append("unknown decision state: showing all")
        state = "all"
    since = until = None
    try:
        since = parse_day(params.get("since"))
        until = parse_day(params.get("until"))
    except ValueError as exc:
        errors.append(str(exc))
    try:
        page = max(1, min(int(params.get("page", "1")), 100_000))
    except ValueError:
        page = 1
    store = console.gate.store
    filters = {"site": site, "since": since, "until": next_day(until), "reason_kind": reason}
    counts = await console.gate.call(store.queue_counts, **filters)
    rows = await console.gate.call(
        store.flagged,
        **filters,
        decision=None if state == "all" else state,
        offset=(page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
    )
    total = counts["all" if state == "all" else state]
    await _audit(
        request,
        "search",
        site=site,
        reason=reason,
        state=state,
        since=params.get("since"),
        until=params.get("until"),
        page=page,
        shown=len(rows),
    )
    keep = {
        k: v
        for k, v in {
            "site": site or "",
            "reason": reason or "",
            "since": params.get("since", ""),
            "until": params.get("until", ""),
        }.items()
        if v
    }

    def link(**changes: Any) -> str:
        return "/queue?" + urlencode({**keep, "state": state, "page": page, **changes})

    return console.render(
        request,
        "queue.html",
        rows=rows,
        counts=counts,
        states=("all", *QUEUE_STATES),
        state=state,
        site=site or "",
        reason=reason or "",
        since=params.get("since", "") if since else "",
        until=params.get("until", "") if until else "",
        kinds=REASON_KINDS,
        errors=errors,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        total=total,
        offset=(page - 1) * PAGE_SIZE,
        link=link,
    )


# --- one account ----------------------------------------------------------------------------------------


async def _purpose_needed(request: Request, kind: str, target: str) -> str | None:
    """The purpose to record with this view, '' when one was given earlier in the session, None when the
    investigator must state it first."""
    console = _console(request)
    key = (str(request.session.get("sid", "")), kind, target)
    pending = request.session.get("purpose")
    if isinstance(pending, dict) and pending.get("kind") == kind and pending.get("target") == target:
        request.session.pop("purpose")
        _remember(console, key)
        return str(pending.get("text", ""))
    if key in console.justified:
        return ""
    seen = await console.gate.call(
        console.gate.store.audit, session_id=key[0], target=target, action=f"view_{kind}", limit=1
    )
    if seen:
        _remember(console, key)
    return "" if seen else None


def _remember(console: Console, key: tuple[str, str, str]) -> None:
    if len(console.justified) > 100_000:
        console.justified.clear()
    console.justified.add(key)


@guarded("account")
async def purpose(request: Request) -> Response:
    form = await request.form()
    kind = str(form.get("kind", ""))
    target = str(form.get("target", ""))[:200]
    text = str(form.get("purpose", "")).strip()[:MAX_PURPOSE]
    if kind not in ("account", "operation"):
        raise HTTPException(400, "unknown page kind")
    back = f"/{kind}/{quote(target, safe='')}"
    if not text:
        request.session["flash"] = "State the purpose of this consultation first."
        return RedirectResponse(back, status_code=303)
    request.session["purpose"] = {"kind": kind, "target": target, "text": text}
    return RedirectResponse(back, status_code=303)


async def _open_record(request: Request, kind: str, account_id: str) -> str | Response:
    """The stated purpose for opening ``kind``'s page of an account, or the page to show instead:
    404 for an account the store does not know, the purpose form on the first view in a session."""
    console = _console(request)
    if not await console.gate.call(console.gate.store.known, account_id):
        return console.render(
            request, "error.html", 404, title="Unknown account", message=f"The store knows nothing about {account_id}."
        )
    stated = await _purpose_needed(request, kind, account_id)
    if stated is None:
        return console.render(request, "purpose.html", kind=kind, target=account_id)
    return stated


@guarded("account")
async def account_page(request: Request) -> Response:
    console = _console(request)
    account_id = request.path_params["account_id"]
    store = console.gate.store
    stated = await _open_record(request, "account", account_id)
    if isinstance(stated, Response):
        return stated
    view = await console.gate.call(
        store.account,
        account_id,
        max_events=TIMELINE_EVENTS,
        shared_activity=False,
        event_fields=TIMELINE_FIELDS,
        chains=True,
    )
    reasons = await console.gate.call(store.evidence, view)
    history = await console.gate.call(store.score_history, account_id)
    chains = view["handoff_chains"]
    linked = view["linked"]
    others = {
        r["account_id"]
        for key in ("shared_devices", "shared_addresses", "shared_applicants", "handoffs_out", "handoffs_in")
        for r in linked[key]
    }
    verdict = view["verdict"] or {}
    buyers = list(verdict.get("buyers") or [])
    others.update(buyers)
    neighbours = await console.gate.call(store.verdicts_of, sorted(others))
    timeline = view["events"]
    shown_reason: dict[str, Any] | None = None
    params = request.query_params
    if params.get("reason", "").isdigit() and int(params["reason"]) < len(reasons):
        shown_reason = reasons[int(params["reason"])]
        timeline = await console.gate.call(
            store.events_by_id, account_id, shown_reason["event_ids"][:TIMELINE_EVENTS], fields=TIMELINE_FIELDS
        )
    else:
        # the latest events, and the first few behind each reason even when older, so that clicking a
        # reason always highlights some of its events (the reason's own view lists them all)
        have = {e["event_id"] for e in timeline}
        extra = list(dict.fromkeys(i for r in reasons for i in r["event_ids"][:EVIDENCE_IN_TIMELINE] if i not in have))
        if extra:
            older = await console.gate.call(store.events_by_id, account_id, extra, fields=TIMELINE_FIELDS)
            newest_first = len(timeline) > 1 and timeline[0].get("ts", "") > timeline[-1].get("ts", "")
            timeline = sorted([*timeline, *older], key=lambda e: e.get("ts", ""), reverse=newest_first)
    event_type = params.get("type", "")
    types = sorted({e["type"] for e in timeline})
    if event_type:
        timeline = [e for e in timeline if e["type"] == event_type]
    shown = {e["event_id"] for e in timeline}
    await _audit(request, "view_account", account_id, stated, reason=params.get("reason"), type=event_type or None)
    graph = _graph(account_id, linked, neighbours, buyers)
    return console.render(
        request,
        "account.html",
        view=view,
        verdict=verdict,
        reasons=reasons,
        timeline=timeline,
        types=types,
        event_type=event_type,
        shown_reason=shown_reason,
        chains=chains,
        buyers=[{"account_id": b, **neighbours.get(b, {})} for b in buyers],
        neighbours=neighbours,
        decisions=DECISIONS,
        chart_json=script_json(history),
        graph_json=script_json(graph),
        evidence_json=script_json(
            {
                str(r["index"]): {"ids": [i for i in r["event_ids"] if i in shown], "total": r["events_total"]}
                for r in reasons
            }
        ),
    )


def _graph(
    center: str, linked: dict[str, Any], neighbours: dict[str, dict[str, Any]], buyers: list[str]
) -> dict[str, Any]:
    """Nodes and edges of the linked-accounts graph (at most 40 neighbours, strongest ties first)."""
    ties: dict[str, list[tuple[str, int]]] = {}
    for key, kind in (
        ("handoffs_out", "handoff to"),
        ("handoffs_in", "handoff from"),
        ("shared_devices", "device"),
        ("shared_addresses", "address"),
        ("shared_applicants", "applicant"),
    ):
        for r in linked[key]:
            ties.setdefault(r["account_id"], []).append((kind, int(r.get("count", r.get("shared", 1)))))
    for b in buyers:
        ties.setdefault(b, []).append(("buyer", 1))
    order = sorted(ties, key=lambda a: (-len(ties[a]), -sum(n for _, n in ties[a]), a))[:40]
    nodes = [{"id": center, "center": True, "flagged": False, "victim": False}]
    for other in order:
        v = neighbours.get(other, {})
        nodes.append(
            {
                "id": other,
                "center": False,
                "flagged": bool(v.get("flagged")),
                "victim": v.get("category") == "resale_buyer" or other in buyers,
                "score": v.get("score"),
            }
        )
    edges = [{"a": center, "b": other, "kinds": sorted({k for k, _ in ties[other]})} for other in order]
    return {"nodes": nodes, "edges": edges, "total": len(ties)}


@guarded("decide")
async def decide(request: Request) -> Response:
    console = _console(request)
    account_id = request.path_params["account_id"]
    form = await request.form()
    decision = str(form.get("decision", ""))
    note = str(form.get("note", "")).strip()
    back = f"/account/{quote(account_id, safe='')}"
    if decision not in DECISIONS or not note:
        request.session["flash"] = "A decision needs one of confirm / dismiss / escalate and a note saying why."
        return RedirectResponse(back, status_code=303)
    user = request.state.user
    try:
        row = await console.gate.call(
            console.gate.store.decide, account_id, decision, note[:MAX_NOTE], user["username"]
        )
    except UnknownAccount:
        return console.render(
            request, "error.html", 404, title="Unknown account", message="Nothing is stored about this account."
        )
    await _audit(request, "decide", account_id, decision=decision, note=note[:MAX_NOTE], decision_id=row["decision_id"])
    request.session["flash"] = f"Recorded: {decision} on {account_id}."
    return RedirectResponse(back, status_code=303)


# --- operations ------------------------------------------------------------------------------------------


@guarded("operation")
async def operation_page(request: Request) -> Response:
    console = _console(request)
    account_id = request.path_params["account_id"]
    store = console.gate.store
    stated = await _open_record(request, "operation", account_id)
    if isinstance(stated, Response):
        return stated
    op = await console.gate.call(store.operation, account_id)
    await _audit(request, "view_operation", account_id, stated, members=[m["account_id"] for m in op["members"]])
    return console.render(
        request,
        "operation.html",
        op=op,
        decisions=DECISIONS,
        graph_json=script_json({"members": op["members"], "edges": op["edges"], "root": account_id}),
    )


@guarded("decide")
async def decide_operation(request: Request) -> Response:
    """One decision and note for the members ticked on the operation page (each stored as decide stores it)."""
    console = _console(request)
    root = request.path_params["account_id"]
    form = await request.form()
    decision = str(form.get("decision", ""))
    note = str(form.get("note", "")).strip()[:MAX_NOTE]
    members = [str(m) for m in form.getlist("member")][:200]
    back = f"/operation/{quote(root, safe='')}"
    if decision not in DECISIONS or not note or not members:
        request.session["flash"] = "Tick the members, choose a decision and write a note saying why."
        return RedirectResponse(back, status_code=303)
    user = request.state.user
    recorded = []
    for member in members:
        try:
            row = await console.gate.call(
                console.gate.store.decide, member, decision, f"[operation of {root}] {note}", user["username"]
            )
        except UnknownAccount:
            continue
        recorded.append(member)
        await _audit(
            request, "decide", member, decision=decision, note=note, operation=root, decision_id=row["decision_id"]
        )
    request.session["flash"] = f"Recorded: {decision} on {len(recorded)} accounts of the operation."
    return RedirectResponse(back, status_code=303)


# --- overview, labels ------------------------------------------------------------------------------------


@guarded("overview")
async def overview(request: Request) -> Response:
    console = _console(request)
    site = request.query_params.get("site", "").strip()[:100] or None
    data = await console.gate.call(console.gate.store.overview, site=site)
    return console.render(request, "overview.html", data=data, site=site or "", chart_json=script_json(data))


@guarded("labels")
async def labels_page(request: Request) -> Response:
    console = _console(request)
    labels = await console.gate.call(console.gate.store.labels)
    summary = {"confirm": 0, "dismiss": 0, "escalate": 0}
    for row in labels:
        summary[row["decision"]] = summary.get(row["decision"], 0) + 1
    return console.render(request, "labels.html", count=len(labels), summary=summary)


@guarded("labels")
async def labels_export(request: Request) -> Response:
    console = _console(request)
    labels = await console.gate.call(console.gate.store.labels)
    await _audit(request, "export_labels", labels=len(labels))
    body = b"".join(msgspec.json.encode(row) + b"\n" for row in labels)
    return Response(
        body,
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="slotguard-labels.jsonl"'},
    )


# --- admin: users and audit ------------------------------------------------------------------------------


@guarded("users")
async def users_page(request: Request) -> Response:
    console = _console(request)
    users = await console.gate.call(console.gate.store.users)
    return console.render(request, "users.html", users=users, roles=ROLES)


@guarded("users")
async def users_change(request: Request) -> Response:
    console = _console(request)
    form = await request.form()
    store = console.gate.store
    action = str(form.get("action", ""))
    username = str(form.get("username", "")).strip()[:100]
    me = request.state.user["username"]
    try:
        existing = await console.gate.call(store.user, username)
        if action == "add":
            if existing is not None:
                raise ValueError(f"user {username} already exists")
            role = check_role(str(form.get("role", "")))
            await console.gate.call(
                store.save_user, username, role, hash_password(str(form.get("password", ""))), disabled=False, by=me
            )
        elif action in ("disable", "enable"):
            if existing is None:
                raise ValueError(f"unknown user {username}")
            if username == me and action == "disable":
                raise ValueError("you cannot disable yourself")
            await console.gate.call(
                store.save_user,
                username,
                existing["role"],
                existing["password_hash"],
                disabled=action == "disable",
                by=me,
            )
        else:
            raise ValueError("unknown action")
    except ValueError as exc:
        request.session["flash"] = str(exc)
        return RedirectResponse("/admin/users", status_code=303)
    console.forget(username)
    await _audit(request, f"user_{action}", username)
    request.session["flash"] = f"{action}: {username}"
    return RedirectResponse("/admin/users", status_code=303)


@guarded("audit")
async def audit_page(request: Request) -> Response:
    console = _console(request)
    params = request.query_params
    filters = {key: params.get(key, "").strip()[:200] or None for key in ("username", "action", "target")}
    rows = await console.gate.call(console.gate.store.audit, **filters, limit=200)
    return console.render(request, "audit.html", rows=rows, filters={k: v or "" for k, v in filters.items()})


async def healthz(request: Request) -> Response:
    return Response("ok\n", media_type="text/plain")


async def not_found(request: Request, exc: Exception) -> Response:
    console = _console(request)
    code = exc.status_code if isinstance(exc, HTTPException) else 404
    return console.render(
        request,
        "error.html",
        code,
        title="Not found" if code == 404 else "Error",
        message=str(getattr(exc, "detail", "")),
    )


def create_app(
    store: Store,
    *,
    secret_key: str,
    https_only: bool = False,
    throttle: LoginThrottle | None = None,
) -> Starlette:
    """The console as an ASGI app over an open store (its users and audit trail live in it too)."""
    if len(secret_key) < 32:
        raise ValueError("the session secret must be at least 32 characters")
    routes = [
        Route("/", home),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/queue", queue),
        Route("/purpose", purpose, methods=["POST"]),
        Route("/account/{account_id:path}/decide", decide, methods=["POST"]),
        Route("/account/{account_id:path}", account_page),
        Route("/operation/{account_id:path}/decide", decide_operation, methods=["POST"]),
        Route("/operation/{account_id:path}", operation_page),
        Route("/overview", overview),
        Route("/labels", labels_page),
        Route("/labels/export", labels_export, methods=["POST"]),
        Route("/admin/users", users_page, methods=["GET"]),
        Route("/admin/users", users_change, methods=["POST"]),
        Route("/admin/audit", audit_page),
        Route("/healthz", healthz),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [
        Middleware(SecurityHeaders, hsts=https_only),
        Middleware(
            SessionMiddleware,
            secret_key=secret_key,
            session_cookie=SESSION_COOKIE,
            max_age=SESSION_MAX_AGE_S,
            same_site="strict",
            https_only=https_only,
        ),
    ]
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={404: not_found, 400: not_found})
    app.state.console = Console(store, throttle or LoginThrottle())
    return app
