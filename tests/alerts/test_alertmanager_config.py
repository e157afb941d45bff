"""Alertmanager and Prometheus configurations: valid for the real tools, routing as documented."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from alerts.rules import rule_files
from alerts.servers import ALERTMANAGER_YML, PROMETHEUS_YML, alertmanager_config, prometheus_config

AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, timeout=60, check=False)


def test_amtool_check_config() -> None:
    done = _run(AMTOOL, "check-config", str(ALERTMANAGER_YML))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def _route(*labels: str) -> str:
    done = _run(AMTOOL, "config", "routes", "test", f"--config.file={ALERTMANAGER_YML}", *labels)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize(
    ("alert", "receiver"),
    [(r["alert"], "investigators" if r["labels"]["team"] == "investigators" else "it")
     for doc in rule_files().values() for g in doc["groups"] for r in g["rules"]],
)  # fmt: skip
def test_each_alert_routes_to_its_team(alert: str, receiver: str) -> None:
    rule = next(r for doc in rule_files().values() for g in doc["groups"] for r in g["rules"] if r["alert"] == alert)
    labels = [f"alertname={alert}", "site=93-bobigny", *(f"{k}={v}" for k, v in rule["labels"].items())]
    assert _route(*labels) == receiver


def test_grouping_and_inhibition_are_as_documented() -> None:
    doc = yaml.safe_load(ALERTMANAGER_YML.read_text())
    assert doc["route"]["group_by"] == ["alertname", "site"]
    (inhibit,) = doc["inhibit_rules"]
    assert inhibit["source_matchers"] == ['alertname="SlotguardPipelineStalled"']
    assert inhibit["target_matchers"] == ['site=~".+"']


def test_derived_configs_are_valid_too(tmp_path: Path) -> None:
    am = tmp_path / "am.yml"
    am.write_text(yaml.safe_dump(alertmanager_config("http://127.0.0.1:19089", group_wait="1s")))
    done = _run(AMTOOL, "check-config", str(am))
    assert done.returncode == 0, done.stdout + done.stderr
    rules = tmp_path / "rules"
    rules.mkdir()
    for name, rule_doc in rule_files().items():
        (rules / name).write_text(yaml.safe_dump(rule_doc))
    prom = tmp_path / "prometheus.yml"
    prom.write_text(yaml.safe_dump(prometheus_config(["127.0.0.1:19081"], sorted(rules.glob("*.yml")),
                                                     "127.0.0.1:19093", "1s", "1s")))  # fmt: skip
    done = _run(PROMTOOL, "check", "config", str(prom))
    assert done.returncode == 0, done.stdout + done.stderr
    done = _run(PROMTOOL, "check", "config", str(PROMETHEUS_YML))
    assert done.returncode == 0, done.stdout + done.stderr
