"""Running ``slotguard worker`` processes against a broker, for the stream's tests and benchmark."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from streaming.app import kafka_route
from tests.kafka_broker import KafkaBroker

PARTITIONS = 3
REPO = Path(__file__).resolve().parent.parent


def _env(broker: KafkaBroker) -> dict[str, str]:
    return {**os.environ, "SLOTGUARD_BROKERS": broker.bootstrap, "SLOTGUARD_LOG_LEVEL": "INFO"}


def with_closing_events(events: Path, out: Path, skip: set[int] | None = None) -> Path:
    """The world's events and, an hour after the last, one ``slot_released`` on every partition
    (but those in ``skip``).

    A stream has no end of input: a partition closes a tick when its own input passes it, or, once
    it has gone quiet, by heartbeats carrying how far the other partitions' input went. So at
    least one partition needs an event past the world's last tick.
    """
    lines = events.read_bytes().splitlines()
    last = max(datetime.fromisoformat(json.loads(line)["ts"]) for line in lines if line.strip())
    route = kafka_route(PARTITIONS)
    slots: dict[int, str] = {}
    i = 0
    wanted = PARTITIONS - len(skip or ())
    while len(slots) < wanted:
        part = route(f"closing-slot-{i}")
        if part not in (skip or ()):
            slots.setdefault(part, f"closing-slot-{i}")
        i += 1
    closing = [
        {
            "event_id": f"closing-event-{p}",
            "type": "slot_released",
            "ts": (last + timedelta(hours=1)).isoformat(timespec="milliseconds"),
            "site": "closing-site",
            "slot_id": slot,
            "service": "titre-sejour",
            "slot_start": (last + timedelta(days=30)).isoformat(timespec="milliseconds"),
            "reason": "opening",
        }
        for p, slot in sorted(slots.items())
    ]
    out.write_bytes(b"\n".join(lines) + b"\n" + b"".join(json.dumps(doc).encode() + b"\n" for doc in closing))
    return out


def sg(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "slotguard.cli", *args]
    return subprocess.run(command, check=False, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)


class Worker:
    """A ``slotguard worker`` process with its own state directory, status file and log."""

    def __init__(self, root: Path, name: str, broker: KafkaBroker, model: Path, app_id: str) -> None:
        self.dir = root / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.status_file = self.dir / "status.json"
        self.verdicts_file = self.dir / "verdicts.jsonl"
        self.log = self.dir / "worker.log"
        self.args = [
            sys.executable, "-m", "slotguard.cli", "--model", str(model), "worker",
            "--app-id", app_id, "--partitions", str(PARTITIONS), "--state-dir", str(self.dir / "state"),
            "--status-file", str(self.status_file), "--verdicts-out", str(self.verdicts_file),
        ]  # fmt: skip
        self.env = _env(broker)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        self.status_file.unlink(missing_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.args, env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        return time.monotonic()

    def status(self) -> dict[str, object] | None:
        try:
            return json.loads(self.status_file.read_text())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)

    def tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])
        except OSError:
            return ""


def completed(workers: list[Worker]) -> dict[str, int]:
    """The completed tick of every partition the workers report (the latest report of each)."""
    ticks: dict[str, int] = {}
    for worker in workers:
        status = worker.status()
        for p, info in (status or {}).get("partitions", {}).items():  # type: ignore[union-attr]
            if info["durable_tick"] is not None:
                ticks[p] = max(ticks.get(p, -1), info["durable_tick"])
    return ticks


def applied_durable(workers: list[Worker]) -> dict[str, int]:
    """Input events in each partition's durable state, from the worker holding it furthest along."""
    best: dict[str, tuple[int, int]] = {}
    for worker in workers:
        status = worker.status()
        for p, info in (status or {}).get("partitions", {}).items():  # type: ignore[union-attr]
            if info["durable_tick"] is not None and info["durable_tick"] >= best.get(p, (-1, 0))[0]:
                best[p] = (info["durable_tick"], info["applied_durable"])
    return {p: applied for p, (_, applied) in best.items()}


def applied_once(events: Path) -> int:
    """How many events of the file a worker applies once its last real tick is durable: each
    ``event_id`` once, the closing events (in a tick that never closes) and invalid lines aside."""
    from ingest.contract import ContractError, decode

    ids = set()
    for line in events.read_bytes().splitlines():
        try:
            event_id = decode(line).event_id
        except ContractError:
            continue
        if not event_id.startswith("closing-"):
            ids.add(event_id)
    return len(ids)


def wait_for_tick(workers: list[Worker], tick: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [w for w in workers if w.process is not None and w.process.poll() is not None]
        assert not dead, "a worker exited:\n" + "\n".join(w.tail() for w in dead)
        ticks = completed(workers)
        if len(ticks) == PARTITIONS and min(ticks.values()) >= tick:
            return
        time.sleep(0.5)
    raise AssertionError(f"partitions at {completed(workers)}, not {tick}:\n" + "\n".join(w.tail() for w in workers))


def read_verdicts(path: Path) -> dict[str, dict[str, object]]:
    out = {}
    for line in path.read_text().splitlines():
        doc = json.loads(line)
        out[doc["account_id"]] = doc
    return out


def last_tick(events: Path) -> int:
    """The tick holding the last real event (the closing events come after it)."""
    docs = [json.loads(line) for line in events.read_bytes().splitlines() if line.strip()]
    last = max(datetime.fromisoformat(d["ts"]).timestamp() for d in docs if not d["event_id"].startswith("closing-"))
    return int(last // 300.0)
