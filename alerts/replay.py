"""A replayed world watched by real Prometheus and Alertmanager servers, on loopback.

:class:`ReplayStack` starts a webhook :class:`~alerts.receiver.Receiver`, Debian's Alertmanager
(``alerts/alertmanager.yml``, quick grouping timings) and Prometheus (``alerts/prometheus.yml``,
1 s scrapes and evaluations, the rules of ``alerts.rules`` compressed by the replay speed), then
``slotguard detect --metrics-port P --replay-speed F`` over each world. The end-to-end test and
``make dashboards-png`` use it; everything it started stops on exit.

A replay ``F`` times faster than real time makes an hour of event time last 3600/F s: the rules'
windows are divided by ``F`` (never below ``floor`` seconds, so each holds several scrapes).
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from alerts import rules, servers
from alerts.receiver import Receiver

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Ports:
    """Loopback ports of one stack (the tests' defaults stay clear of ``slotguard stack``'s)."""

    prometheus: int = 19090
    alertmanager: int = 19093
    receiver: int = 19089
    first_metrics: int = 19081


@dataclass
class Replayed:
    """One world being replayed: its ``detect`` process and metrics port."""

    events: Path
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    started_at: float = field(default_factory=time.time)

    def done(self) -> bool:
        """The replay read its last event (``detect`` says so when it starts holding its metrics)."""
        try:
            return "serving metrics for" in self.log.read_text(errors="replace")
        except OSError:
            return False


class ReplayStack:
    """Receiver, Alertmanager, Prometheus and replays; a context manager that stops them all."""

    def __init__(
        self,
        directory: Path,
        speed: float,
        worlds: Sequence[Path],
        ports: Ports | None = None,
        floor: float = 5.0,
        hold_s: float = 600.0,
        model: Path | None = None,
        store: str | None = None,
    ) -> None:
        self.directory = directory
        self.speed = speed
        self.worlds = list(worlds)
        self.ports = ports or Ports()
        self.floor = floor
        self.hold_s = hold_s
        self.model = model
        #: a history store URL for the replays (one replay per embedded chDB store)
        self.store = store
        self.receiver: Receiver | None = None
        self.started: list[servers.Server] = []
        self.replays: list[Replayed] = []
        self.api = servers.PrometheusAPI(f"http://127.0.0.1:{self.ports.prometheus}")

    def __enter__(self) -> ReplayStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        d, p = self.directory, self.ports
        d.mkdir(parents=True, exist_ok=True)
        self.receiver = Receiver(p.receiver, d / "notifications.jsonl").start()
        am = servers.alertmanager(
            servers.alertmanager_config(f"http://127.0.0.1:{p.receiver}", "1s", "1s", "1h"), d / "alertmanager",
            p.alertmanager,
        )  # fmt: skip
        self.started.append(am.start())
        rule_paths = rules.write(d / "rules", rules.Windows().compressed(self.speed, self.floor))
        targets = [f"127.0.0.1:{p.first_metrics + i}" for i in range(len(self.worlds))]
        config = servers.prometheus_config(targets, rule_paths, f"127.0.0.1:{p.alertmanager}", "1s", "1s")
        prometheus = servers.prometheus(config, d / "prometheus", p.prometheus)
        # the replays first, so that Prometheus' first scrape finds them up (a target down is an alert)
        for i, events in enumerate(self.worlds):
            self.replays.append(self._replay(events, p.first_metrics + i))
        for replay in self.replays:
            self._wait_serving(replay)
        self.started.append(prometheus.start())

    def _replay(self, events: Path, port: int) -> Replayed:
        log = self.directory / f"detect-{port}.log"
        command = [sys.executable, "-m", "slotguard.cli"]
        if self.model is not None:
            command += ["--model", str(self.model)]
        command += [
            "detect", str(events), "--out", str(self.directory / f"verdicts-{port}.jsonl"), "--no-progress",
            "--metrics-port", str(port), "--replay-speed", f"{self.speed:g}", "--metrics-hold", f"{self.hold_s:g}",
        ]  # fmt: skip
        if self.store is not None:
            command += ["--store", self.store]
        with log.open("ab") as stream:
            process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=stream)
        return Replayed(events, port, process, log)

    def _wait_serving(self, replay: Replayed, timeout: float = 30.0) -> None:
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if replay.process.poll() is not None:
                raise servers.ServerError(f"detect on {replay.events} exited:\n{replay.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{replay.port}/metrics", timeout=1):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise servers.ServerError(f"detect on {replay.events} serves no metrics after {timeout:g} s")

    def stop(self) -> None:
        for replay in self.replays:
            if replay.process.poll() is None:
                replay.process.terminate()
                try:
                    replay.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    replay.process.kill()
                    replay.process.wait(timeout=10)
        for server in reversed(self.started):
            server.stop()
        self.started.clear()
        if self.receiver is not None:
            self.receiver.stop()
            self.receiver = None

    # -------------------------------------------------------------- watching
    def firing(self, alertname: str, **labels: str) -> dict[str, Any] | None:
        """The firing alert of that name and labels in Prometheus, if any."""
        for alert in self.api.alerts():
            if alert["state"] != "firing" or alert["labels"].get("alertname") != alertname:
                continue
            if all(alert["labels"].get(k) == v for k, v in labels.items()):
                return alert
        return None

    def delivered(self, alertname: str, **labels: str) -> list[dict[str, Any]]:
        """Notifications the receiver got that hold that alert (firing)."""
        out = []
        for row in self.receiver.received() if self.receiver else []:
            for alert in row["notification"].get("alerts", []):
                if alert.get("status") != "firing" or alert["labels"].get("alertname") != alertname:
                    continue
                if all(alert["labels"].get(k) == v for k, v in labels.items()):
                    out.append(row)
                    break
        return out

    def replay_clock(self, site: str, at: float | None = None) -> tuple[float, float] | None:
        """(scrape wall time, the replay's event time then) from the newest scrape of ``site``'s lag."""
        expr = (
            f'slotguard_newest_event_timestamp_seconds{{site="{site}"}}'
            f' + on(site, instance) slotguard_event_time_lag_seconds{{site="{site}"}}'
        )
        result = self.api.query(f'timestamp(slotguard_event_time_lag_seconds{{site="{site}"}})', at)
        value = self.api.query(expr, at)
        if not result or not value:
            return None
        return float(result[0]["value"][1]), float(value[0]["value"][1])

    def event_time_at(self, site: str, wall: float) -> float | None:
        """The replay's event time at wall-clock ``wall`` (its clock runs ``speed`` times faster)."""
        sample = self.replay_clock(site, wall)
        if sample is None:
            return None
        scraped, event_t = sample
        return event_t + (wall - scraped) * self.speed

    def wall_time_of(self, site: str, event_t: float) -> float | None:
        """When the replay's clock reads (or read, or will read) event time ``event_t``."""
        sample = self.replay_clock(site)
        if sample is None:
            return None
        scraped, now_t = sample
        return scraped + (event_t - now_t) / self.speed

    def check(self) -> None:
        """Raise if a server or a replay died."""
        for server in self.started:
            if server.process is not None and server.process.poll() is not None:
                raise servers.ServerError(f"{server.name} exited:\n{server.tail()}")
        for replay in self.replays:
            if replay.process.poll() not in (None, 0):
                raise servers.ServerError(f"detect on {replay.events} failed:\n{replay.log.read_text()[-3000:]}")
