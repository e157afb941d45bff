"""Faults against real stores: a server that goes away mid-run and comes back, unreachable stores at
start, an embedded store held by another process. No mocks: the server is really stopped."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from storage import Store, StoreUnavailable, open_store
from tests.clickhouse_server import ClickHouseServer
from tests.storage.builders import events, searches, verdict
from tests.storage.conftest import KEY


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_server_at_start_is_a_clear_error() -> None:
    port = _free_port()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        open_store(f"clickhouse://default:@127.0.0.1:{port}/slotguard", pseudonym_key=KEY)
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and "cannot reach the ClickHouse server" in message
    assert time.monotonic() - started < 10


def test_embedded_store_held_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "held"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from storage import open_store; "
            f"s = open_store('chdb:{path}', pseudonym_key='k'); print('ready', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreUnavailable, match="one process at a time"):
            open_store(f"chdb:{path}", pseudonym_key=KEY)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


@pytest.mark.integration
def test_server_lost_mid_run_keeps_rows_and_writes_them_after_restart(
    server_store: tuple[Store, ClickHouseServer],
) -> None:
    store, server = server_store
    writer = store.writer(batch_rows=50, flush_interval_s=3600, max_retries=2, backoff_s=0.05, max_backoff_s=0.2)
    first = events(searches("A", 100))
    writer.add_events(*first)
    assert store.counts()["events"] == 100

    server.stop()
    second = events(searches("B", 120, start=1000))
    writer.add_events(*second)  # automatic flush fails: rows held, the caller is not stalled
    writer.add_verdicts([verdict("A", 0.9), verdict("B", 0.8)])
    writer.flush()  # retries with backoff, then keeps the rows
    held = writer.report()
    assert held.tables["events"].pending == 120 and held.tables["verdicts"].pending == 2
    assert held.retries >= 3 and held.written == 100
    with pytest.raises(StoreUnavailable):
        store.flagged()

    server.start()
    report = writer.close()
    assert report.ok, report.summary()
    assert report.tables["events"].written == 220 and report.tables["verdicts"].written == 2
    counts = store.counts()
    assert counts["events"] == 220 and counts["verdicts"] == 2
    assert [r["account_id"] for r in store.flagged()] == ["A", "B"]


@pytest.mark.integration
def test_flush_rides_out_a_restart(server_store: tuple[Store, ClickHouseServer]) -> None:
    store, server = server_store
    writer = store.writer(batch_rows=10_000, max_retries=8, backoff_s=0.2, max_backoff_s=2.0)
    writer.add_events(*events(searches("A", 40)))
    server.stop()
    restarter = threading.Timer(1.0, server.start)
    restarter.start()
    try:
        writer.flush()  # sleeps 0.2, 0.4, 0.8, 1.6 ... between attempts: the server is back in time
    finally:
        restarter.join()
    report = writer.close()
    assert report.ok and report.retries >= 1
    assert store.counts()["events"] == 40


@pytest.mark.integration
def test_rows_still_unwritten_at_close_are_reported_not_dropped(
    server_store: tuple[Store, ClickHouseServer],
) -> None:
    store, server = server_store
    writer = store.writer(max_retries=1, backoff_s=0.01)
    writer.add_events(*events(searches("A", 30)))
    writer.add_verdicts([verdict("A", 0.9)])
    server.stop()
    report = writer.close()
    assert report.unwritten == 31 and report.tables["events"].pending == 30 and report.written == 0
    assert "31 could not be written" in report.summary()
    assert report.as_dict()["tables"]["events"]["unwritten"] == 30
