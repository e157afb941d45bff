"""The investigator's whole path in a real browser: Debian's Chromium driven by playwright-core (npm),
against the console served by uvicorn on a free loopback port. Saves docs/img/console-*.png."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from console.app import create_app
from tests.console.conftest import PASSWORD, SECRET, USERS, ConsoleWorld

REPO = Path(__file__).resolve().parents[2]
BROWSER_DIR = REPO / "tests" / "browser"
SHOTS = REPO / "docs" / "img"
CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.integration


def _prerequisites() -> None:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run `scripts/ensure-apt.sh chromium` (make test-integration does)")
    if shutil.which("node") is None:
        pytest.fail("node is missing: run `scripts/ensure-apt.sh nodejs npm` (make test-integration does)")
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=BROWSER_DIR,
            check=True,
            timeout=300,
            env={**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"},
        )


@pytest.fixture
def served(console_world: ConsoleWorld) -> Iterator[str]:
    """The console over the session's store, served on 127.0.0.1 at a free port (stopped afterwards)."""
    app = create_app(console_world.store, secret_key=SECRET)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                pytest.fail("the console did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_the_investigators_path_in_chromium(served: str, console_world: ConsoleWorld) -> None:
    _prerequisites()
    store = console_world.store
    kind = next(
        k
        for k in ("identity", "unsearched", "shared_infrastructure", "dexterity")
        if store.flagged(reason_kind=k, limit=1)
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "BASE_URL": served,
        "INVESTIGATOR": USERS["investigator"],
        "ADMIN": USERS["admin"],
        "PASSWORD": PASSWORD,
        "REASON_KIND": kind,
        "SHOTS": str(SHOTS),
        "CHROMIUM": str(CHROMIUM),
    }
    done = subprocess.run(
        ["node", str(BROWSER_DIR / "console.spec.mjs")],
        cwd=BROWSER_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, f"browser path failed:\n{done.stdout}\n{done.stderr}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ok"] and result["hits"] > 0
    account = result["account"]
    decisions = store.account(account)["decisions"]
    assert decisions[-1]["decision"] == "escalate" and decisions[-1]["by"] == USERS["investigator"]
    actions = {e["action"] for e in store.audit(target=account, limit=100)}
    assert {"view_account", "view_operation", "decide"} <= actions
    for name in ("login", "queue", "account", "reason", "operation", "decision", "audit", "overview"):
        shot = SHOTS / f"console-{name}.png"
        assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
