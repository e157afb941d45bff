"""Fixtures for the console: a simulated world detected into a chDB store once for this package's tests,
with one user per role, and a fresh app (its own login throttle) per test.

The store lives in the session's shared chDB directory (chDB binds one directory per process) and is
closed when the package's tests are done, so tests elsewhere can open other embedded stores after."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from console.app import create_app
from console.auth import LoginThrottle, hash_password
from ingest.pseudonym import Pseudonymizer
from models.artifact import ModelArtifact
from simulator import WorldParams, simulate
from slotguard.config import resolve
from slotguard.runner import detect
from storage import Store, open_store
from tests.conftest import KEY

SECRET = "console-test-secret-0123456789abcdef"
PASSWORD = "correct horse battery staple"
#: role -> user name of the session's users
USERS = {"investigator": "ines", "it": "ito", "data-scientist": "dana", "admin": "adam"}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class ConsoleWorld:
    """The session's store (a detected world, users added) and what the tests need to know about it."""

    store: Store
    flagged: list[str]


@pytest.fixture(scope="package")
def console_world(
    family_model: ModelArtifact, chdb_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConsoleWorld]:
    world = tmp_path_factory.mktemp("console-world")
    simulate(WorldParams(seed=71, accounts=1500, days=4), world)
    database = f"console_{uuid.uuid4().hex[:10]}"
    store = open_store(f"chdb:{chdb_dir}?database={database}", pseudonym_key=KEY)
    try:
        pseudonymizer = Pseudonymizer(KEY)
        store.register_model(family_model.metadata)
        writer = store.writer(pseudonymizer=pseudonymizer)
        summary, _ = detect(
            world / "events.jsonl",
            family_model,
            resolve(environ={"SLOTGUARD_PSEUDONYM_KEY": KEY}),
            verdicts_out=io.BytesIO(),
            dead_letters=None,
            history=writer,
            pseudonymizer=pseudonymizer,
        )
        assert summary.history["unwritten"] == 0
        hashed = hash_password(PASSWORD)
        for role, name in USERS.items():
            store.save_user(name, role, hashed, disabled=False, by="test")
        store.save_user("gone", "investigator", hashed, disabled=True, by="test")
        flagged = [r["account_id"] for r in store.flagged(limit=10_000)]
        assert len(flagged) > 2 * 25, "the world must fill more than two queue pages"
        yield ConsoleWorld(store, flagged)
    finally:
        store.backend.command(f"DROP DATABASE IF EXISTS {database}")
        store.close()


@pytest.fixture
def app(console_world: ConsoleWorld) -> Starlette:
    return create_app(console_world.store, secret_key=SECRET, throttle=LoginThrottle(max_failures=5, window_s=300))


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    match = _CSRF.search(html)
    assert match, "the page has no form token"
    return match.group(1)


def login(client: TestClient, role: str = "investigator", *, username: str | None = None) -> str:
    """Sign in as the session's user of a role; returns the session's CSRF token."""
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"username": username or USERS[role], "password": PASSWORD, "csrf_token": csrf_of(page.text), "next": ""},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get(response.headers["location"]).text)


def open_with_purpose(
    client: TestClient, kind: str, target: str, csrf: str, purpose: str = "review of the flag"
) -> str:
    """State the purpose for a first view and return the page's HTML."""
    first = client.get(f"/{kind}/{target}")
    assert "Why are you opening" in first.text
    response = client.post("/purpose", data={"kind": kind, "target": target, "purpose": purpose, "csrf_token": csrf})
    assert response.status_code == 200
    return response.text
