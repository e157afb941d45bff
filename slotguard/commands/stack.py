"""``slotguard stack``: the local services for development and tests (Kafka, ClickHouse, Prometheus,
Alertmanager)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from slotguard.config import REPO_ROOT, Settings
from slotguard.output import add_format_flag, table

DESCRIPTION = """\
Starts, stops or checks the services a development machine needs, all on 127.0.0.1 with their
data under DATA_DIR/stack (an ignored folder): Apache Kafka (single-node KRaft, from Maven Central
jars resolved once by scripts/kafka.sh) on 9092, a ClickHouse server (Debian's clickhouse-server)
on 19000, Prometheus on 9090 (alerts/prometheus.yml: scrapes `worker --metrics-port 9108` and
`detect --metrics-port 9109`, rules from alerts/rules/) and Alertmanager on 9093
(alerts/alertmanager.yml), whose receivers post to a local webhook receiver on 9095 that appends
each notification to DATA_DIR/stack/alertmanager/notifications.jsonl. `up` is idempotent and
waits until each answers; `down` stops what `up` started.

examples:
  slotguard stack up
  slotguard stack status --format json
  slotguard stack down
"""

SERVICES = {
    "kafka": ("scripts/kafka.sh", "kafka"),
    "clickhouse": ("scripts/clickhouse.sh", "clickhouse"),
    "prometheus": ("scripts/prometheus.sh", "prometheus"),
    "alertmanager": ("scripts/alertmanager.sh", "alertmanager"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("up", "down", "status"), help="what to do")
    parser.add_argument("--only", choices=sorted(SERVICES), action="append", help="just this service (repeatable)")
    add_format_flag(parser)


def _script(service: str, action: str, settings: Settings) -> subprocess.CompletedProcess[str]:
    script, folder = SERVICES[service]
    command = {"up": "start", "down": "stop", "status": "status"}[action]
    return subprocess.run(
        [str(REPO_ROOT / script), command, str(settings.data_dir / "stack" / folder)],
        capture_output=True,
        text=True,
        check=False,
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    services = args.only or list(SERVICES)
    if args.action == "up" and "kafka" in services:
        jars = subprocess.run(
            [str(REPO_ROOT / "scripts/kafka.sh"), "jars"], check=False, capture_output=True, text=True
        )
        if jars.returncode != 0:
            print(jars.stderr.strip(), file=sys.stderr)
            return 2
    rows = []
    worst = 0
    for service in services:
        done = _script(service, args.action, settings)
        address = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
        state = {"up": "started", "down": "stopped", "status": "up"}[args.action] if done.returncode == 0 else "down"
        if done.returncode != 0 and args.action != "status":
            state = "failed"
            print(f"slotguard stack: {service}: {done.stderr.strip()}", file=sys.stderr)
        rows.append({"service": service, "state": state, "address": address if done.returncode == 0 else ""})
        if done.returncode != 0:
            worst = 1 if args.action == "status" else 2
    if args.format == "json":
        for row in rows:
            print(json.dumps(row))
    else:
        table([(r["service"], r["state"], r["address"]) for r in rows], ("service", "state", "address"))
    return worst
