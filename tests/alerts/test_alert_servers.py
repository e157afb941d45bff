"""Debian's Prometheus and Alertmanager with slotguard's own files: the stack's scripts start them and
the production rules load; Alertmanager routes to the right receiver and holds back per-site alerts
while the whole pipeline is stalled (inhibition)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerts import servers
from alerts.receiver import Receiver

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
PORTS = {"PROM_PORT": "19090", "AM_PORT": "19093", "RECEIVER_PORT": "19089"}


def _script(name: str, action: str, directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REPO / "scripts" / name), action, str(directory)], capture_output=True, text=True,
                          timeout=90, env={**os.environ, **PORTS}, check=False)  # fmt: skip


def test_stack_scripts_run_prometheus_with_the_production_rules_and_alertmanager(tmp_path: Path) -> None:
    try:
        up = _script("prometheus.sh", "start", tmp_path / "prometheus")
        assert up.returncode == 0, up.stderr
        assert up.stdout.strip() == "http://127.0.0.1:19090"
        up = _script("alertmanager.sh", "start", tmp_path / "alertmanager")
        assert up.returncode == 0, up.stderr
        assert _script("prometheus.sh", "status", tmp_path / "prometheus").returncode == 0
        api = servers.PrometheusAPI("http://127.0.0.1:19090")
        groups = api.get("/api/v1/rules")["groups"]
        names = sorted(r["name"] for g in groups for r in g["rules"])
        assert len(names) == 9 and "SlotguardScalpingSurge" in names
        deadline = time.monotonic() + 15  # discovery is asynchronous
        while time.monotonic() < deadline and not api.get("/api/v1/alertmanagers")["activeAlertmanagers"]:
            time.sleep(0.3)
        status = api.get("/api/v1/alertmanagers")
        assert [a["url"] for a in status["activeAlertmanagers"]] == ["http://127.0.0.1:9093/api/v2/alerts"]
        with urllib.request.urlopen("http://127.0.0.1:19089/", timeout=5) as response:
            assert json.loads(response.read()) == []
    finally:
        _script("prometheus.sh", "stop", tmp_path / "prometheus")
        _script("alertmanager.sh", "stop", tmp_path / "alertmanager")
    assert _script("prometheus.sh", "status", tmp_path / "prometheus").returncode == 1
    assert _script("alertmanager.sh", "status", tmp_path / "alertmanager").returncode == 1


def _post(url: str, alerts: list[dict[str, Any]]) -> None:
    request = urllib.request.Request(url, json.dumps(alerts).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def _alert(name: str, team: str, **labels: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "labels": {"alertname": name, "team": team, "severity": "page", **labels},
        "annotations": {"summary": name},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(minutes=10)).isoformat(),
    }


def test_alertmanager_routes_by_team_and_inhibits_site_alerts_while_the_pipeline_is_stalled(tmp_path: Path) -> None:
    receiver = Receiver(19089).start()
    am = servers.alertmanager(servers.alertmanager_config("http://127.0.0.1:19089", "1s", "1s", "1h"),
                              tmp_path / "am", 19093)  # fmt: skip
    try:
        am.start()
        base = "http://127.0.0.1:19093/api/v2/alerts"
        _post(base, [_alert("SlotguardScalpingSurge", "investigators", site="93-bobigny")])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not receiver.received():
            time.sleep(0.2)
        (first,) = receiver.received()
        assert first["receiver_path"] == "/investigators"
        assert first["notification"]["groupLabels"] == {"alertname": "SlotguardScalpingSurge", "site": "93-bobigny"}

        # the whole pipeline stalls: its alert goes to IT; new per-site alerts are held back
        _post(base, [_alert("SlotguardPipelineStalled", "it")])
        time.sleep(1.5)
        _post(base, [_alert("SlotguardSiteStalled", "it", site="92-nanterre"),
                     _alert("SlotguardHandoffSpike", "investigators", site="75-paris")])  # fmt: skip
        time.sleep(5)
        paths = [(r["receiver_path"], a["labels"]["alertname"]) for r in receiver.received()
                 for a in r["notification"]["alerts"]]  # fmt: skip
        assert ("/it", "SlotguardPipelineStalled") in paths
        assert not [p for p in paths if p[1] in ("SlotguardSiteStalled", "SlotguardHandoffSpike")], paths
        with urllib.request.urlopen(base, timeout=5) as response:
            state = {a["labels"]["alertname"]: a["status"] for a in json.loads(response.read())}
        assert state["SlotguardSiteStalled"]["inhibitedBy"]
        assert state["SlotguardHandoffSpike"]["inhibitedBy"]
        assert not state["SlotguardPipelineStalled"]["inhibitedBy"]
    finally:
        am.stop()
        receiver.stop()
