"""Running Debian's Prometheus and Alertmanager with slotguard's files, on loopback.

``alerts/prometheus.yml`` and ``alerts/alertmanager.yml`` are the configurations ``slotguard stack
up`` uses. Replays and tests derive theirs from the same documents (:func:`prometheus_config`,
:func:`alertmanager_config`): other ports, shorter scrape and evaluation intervals, compressed
rules (``alerts.rules``), the same routing, grouping and inhibition.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

ALERTS_DIR = Path(__file__).resolve().parent
PROMETHEUS_YML = ALERTS_DIR / "prometheus.yml"
ALERTMANAGER_YML = ALERTS_DIR / "alertmanager.yml"
#: Debian's binaries (packages ``prometheus`` and ``prometheus-alertmanager``)
PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"


class ServerError(RuntimeError):
    """A server that did not start or answer; the message says which and shows its log's end."""


def binary(path: str) -> str:
    found = shutil.which(Path(path).name) or (path if Path(path).exists() else None)
    if found is None:
        raise ServerError(f"{path} not found: install it with scripts/ensure-apt.sh prometheus prometheus-alertmanager")
    return found


def prometheus_config(
    targets: Sequence[str],
    rule_files: Sequence[Path],
    alertmanager: str,
    scrape_interval: str = "15s",
    evaluation_interval: str = "15s",
) -> dict[str, Any]:
    """``alerts/prometheus.yml`` with these targets, rule files, Alertmanager and intervals."""
    doc: dict[str, Any] = yaml.safe_load(PROMETHEUS_YML.read_text())
    doc["global"]["scrape_interval"] = scrape_interval
    doc["global"]["evaluation_interval"] = evaluation_interval
    doc["rule_files"] = [str(p) for p in rule_files]
    doc["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [alertmanager]
    job = next(j for j in doc["scrape_configs"] if j["job_name"] == "slotguard")
    job["static_configs"][0]["targets"] = list(targets)
    job["scrape_interval"] = scrape_interval
    return doc


def alertmanager_config(
    webhook: str, group_wait: str = "30s", group_interval: str = "5m", repeat_interval: str = "4h"
) -> dict[str, Any]:
    """``alerts/alertmanager.yml`` with its receivers posting to ``webhook``/NAME and these timings."""
    doc: dict[str, Any] = yaml.safe_load(ALERTMANAGER_YML.read_text())
    doc["route"].update(group_wait=group_wait, group_interval=group_interval, repeat_interval=repeat_interval)
    for receiver in doc["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"{webhook.rstrip('/')}/{receiver['name']}"
    return doc


class Server:
    """One server process started from a command line, with its log; ``stop()`` ends it."""

    def __init__(self, name: str, command: list[str], ready_url: str, log: Path) -> None:
        self.name = name
        self.command = command
        self.ready_url = ready_url
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> Server:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.ready_url, timeout=1) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise ServerError(f"{self.name} not ready at {self.ready_url} after {timeout:g} s:\n{self.tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def prometheus(config: dict[str, Any], directory: Path, port: int) -> Server:
    """A Prometheus on 127.0.0.1:``port`` with ``config``, its data and log under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    command = [
        binary(PROMETHEUS),
        f"--config.file={path}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
    ]
    return Server("prometheus", command, f"http://127.0.0.1:{port}/-/ready", directory / "prometheus.log")


def alertmanager(config: dict[str, Any], directory: Path, port: int, cluster_port: int | None = None) -> Server:
    """An Alertmanager on 127.0.0.1:``port`` (clustering off unless ``cluster_port``)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    cluster = f"127.0.0.1:{cluster_port}" if cluster_port else ""
    command = [
        binary(ALERTMANAGER),
        f"--config.file={path}",
        f"--storage.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--cluster.listen-address={cluster}",
    ]
    return Server("alertmanager", command, f"http://127.0.0.1:{port}/-/ready", directory / "alertmanager.log")


class PrometheusAPI:
    """The few calls of Prometheus' HTTP API that tests and pictures need."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def get(self, path: str, **params: Any) -> Any:
        url = f"{self.base}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as response:
            doc = json.loads(response.read())
        if doc.get("status") != "success":
            raise ServerError(f"{url}: {doc}")
        return doc["data"]

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/alerts")["alerts"])

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return list(self.get("/api/v1/query", **params)["result"])

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        return list(
            self.get("/api/v1/query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=f"{step:g}")[
                "result"
            ]
        )

    def series_names(self) -> list[str]:
        return list(self.get("/api/v1/label/__name__/values"))
