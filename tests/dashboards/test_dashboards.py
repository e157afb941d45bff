"""Dashboards as code: the committed JSON is what the SDK code builds, every Prometheus query reads
metrics a real run exports (names from a scrape, not a list), every ClickHouse query runs against
the store's real schema and reads tables and columns it has."""

from __future__ import annotations

import io
import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from alerts.metrics import Metrics
from dashboards.build import DASHBOARDS, render
from dashboards.clickhouse import PLUGIN
from dashboards.sql import expand, tables
from models.artifact import load
from simulator import WorldParams, simulate
from slotguard.config import resolve
from slotguard.runner import detect

DIR = Path(__file__).resolve().parents[2] / "dashboards"
#: series Prometheus itself makes (not slotguard's)
PROMETHEUS_OWN = {"up", "ALERTS", "ALERTS_FOR_STATE"}


def _targets() -> list[tuple[str, str, dict[str, object]]]:
    out = []
    for name in DASHBOARDS:
        doc = json.loads((DIR / f"{name}.json").read_text())
        for panel in doc["panels"]:
            for target in panel.get("targets", []):
                out.append((name, panel["title"], target))
    return out


def test_committed_json_is_what_the_code_builds() -> None:
    for name, build in DASHBOARDS.items():
        assert (DIR / f"{name}.json").read_text() == render(build()), (
            f"dashboards/{name}.json is stale: make dashboards"
        )


def test_both_dashboards_have_prometheus_and_the_scalping_one_clickhouse_panels() -> None:
    kinds = {(name, t["datasource"]["type"]) for name, _, t in _targets()}  # type: ignore[index]
    assert kinds == {("operations", "prometheus"), ("scalping", "prometheus"), ("scalping", PLUGIN)}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[set[str], Any]]:
    """Series names in a scrape of ``detect`` (with a history store) over a simulated world, plus the
    series of families the scrape declares without samples yet (the worker's consumer lag)."""
    root = tmp_path_factory.mktemp("dash-world")
    simulate(WorldParams(seed=51, accounts=500, days=2, sites=2), root / "world")
    settings = resolve(environ={})
    model = load(settings.model)
    from ingest.pseudonym import Pseudonymizer
    from storage import open_store

    store = open_store(f"chdb:{root / 'store'}", pseudonym_key=settings.pseudonym_key)
    store.register_model(model.metadata)
    metrics = Metrics()
    server = metrics.serve(0)
    try:
        detect(root / "world" / "events.jsonl", model, settings, verdicts_out=io.BytesIO(), dead_letters=None,
               metrics=metrics, history=store.writer(pseudonymizer=Pseudonymizer(settings.pseudonym_key)))  # fmt: skip
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    try:
        yield names, store
    finally:
        store.close()  # chDB holds one store per process: the storage tests open their own


def test_every_prometheus_query_reads_metrics_a_run_exports(run: tuple[set[str], Any]) -> None:
    scraped = run[0]
    assert "slotguard_flags_raised_total" in scraped and "slotguard_history_rows_written_total" in scraped
    used = set()
    for dashboard, title, target in _targets():
        if target["datasource"]["type"] != "prometheus":  # type: ignore[index]
            continue
        expr = str(target["expr"])
        names = set(re.findall(r"\b(slotguard_[a-z_]+|up|ALERTS)\b", expr))
        assert names, f"{dashboard} / {title}: no metric in {expr!r}"
        missing = {n for n in names if n not in scraped and n not in PROMETHEUS_OWN}
        assert not missing, f"{dashboard} / {title}: {missing} not exported (query {expr!r})"
        used |= names
    assert len(used) >= 12


def test_every_clickhouse_query_runs_on_the_real_schema(run: tuple[set[str], Any]) -> None:
    store = run[1]
    columns: dict[str, set[str]] = {}
    for database, table, column in store.backend.query(
        f"SELECT database, table, name FROM system.columns WHERE database = '{store.database}'"
    ):
        columns.setdefault(f"{database}.{table}", set()).add(column)
    checked = 0
    for dashboard, title, target in _targets():
        if target["datasource"]["type"] != PLUGIN:  # type: ignore[index]
            continue
        sql = str(target["rawSql"])
        read = tables(sql)
        assert read and all(t in columns for t in read), f"{dashboard} / {title}: tables {read}"
        # every identifier that is not SQL, a function or an alias is a column of the table read
        known = set().union(*(columns[t] for t in read))
        bare = re.sub(r"'[^']*'|\$__\w+\([^)]*\)|\b\w+\.\w+\b", " ", sql)
        words = set(re.findall(r"\b([A-Za-z_]\w*)\b(?!\s*\()", bare))
        aliases = set(re.findall(r"\bAS\s+(\w+)", sql, flags=re.IGNORECASE))
        sql_words = {
            "select",
            "as",
            "from",
            "where",
            "order",
            "by",
            "desc",
            "asc",
            "limit",
            "group",
            "and",
            "slotguard",
        }
        unknown = {w for w in words if w.lower() not in sql_words and w not in aliases and w not in known
                   and not w.startswith("__")}  # fmt: skip
        assert not unknown, f"{dashboard} / {title}: {unknown} are not columns of {read}"
        rows = store.backend.query(expand(sql, 0, 2_000_000_000))  # runs: every name resolves
        assert rows, f"{dashboard} / {title}: no rows from a run that flagged accounts"
        checked += 1
    assert checked == 2
