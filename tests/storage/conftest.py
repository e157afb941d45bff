"""Fixtures for the storage suite: the same tests over chDB (fast tier) and a real ClickHouse server.

The server is Debian's ``clickhouse-server`` started by ``scripts/clickhouse.sh`` for the session
(``tests.clickhouse_server``), as the current user, on 127.0.0.1 with its own data directory under
pytest's temporary directory and ports of its own (19100/18223, so a developer's server on 19000 is
left alone); it is stopped at the end. Tests that use it carry the ``integration`` marker. Each
test gets a database of its own.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import Store, open_store
from tests.clickhouse_server import ClickHouseServer

TEST_TCP_PORT = 19100
TEST_HTTP_PORT = 18223
KEY = "storage-test-key"


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    """Start the private test server once per session; stop it (and everything of it) at the end."""
    if shutil.which("clickhouse-server") is None and not Path("/usr/sbin/clickhouse-server").exists():
        pytest.fail(
            "clickhouse-server is not installed: run "
            "`scripts/ensure-apt.sh clickhouse-server clickhouse-client` (make test-integration does)"
        )
    server = ClickHouseServer(tmp_path_factory.mktemp("clickhouse-server"), TEST_TCP_PORT, TEST_HTTP_PORT)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _database() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["chdb", pytest.param("server", marks=pytest.mark.integration)])
def store_url(request: pytest.FixtureRequest, chdb_dir: Path) -> Iterator[str]:
    """A store URL naming a fresh database, on chDB or on the test server."""
    database = _database()
    if request.param == "chdb":
        url = f"chdb:{chdb_dir}?database={database}"
    else:
        server: ClickHouseServer = request.getfixturevalue("clickhouse_server")
        if not server.running():  # a fault-injection test may have left it stopped
            server.start()
        url = f"{server.base_url}/{database}"
    yield url
    try:
        with open_store(url, pseudonym_key=KEY) as store:
            store.backend.command(f"DROP DATABASE IF EXISTS {database}")
    except Exception:  # cleanup only; the test's own outcome is what matters
        pass


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An open store on a fresh database (closed after the test)."""
    opened = open_store(store_url, pseudonym_key=KEY)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def server_store(clickhouse_server: ClickHouseServer) -> Iterator[tuple[Store, ClickHouseServer]]:
    """A store on the test server, for fault injection (the server is restarted if a test stopped it)."""
    if not clickhouse_server.running():
        clickhouse_server.start()
    database = _database()
    opened = open_store(f"{clickhouse_server.base_url}/{database}", pseudonym_key=KEY)
    try:
        yield opened, clickhouse_server
    finally:
        if not clickhouse_server.running():
            clickhouse_server.start()
        opened.close()
        with open_store(f"{clickhouse_server.base_url}/{database}", pseudonym_key=KEY) as cleanup:
            cleanup.backend.command(f"DROP DATABASE IF EXISTS {database}")
