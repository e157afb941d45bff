"""The alert rules: generated files up to date, ``promtool check rules``, and ``promtool test rules``
with a case per alert that fires and one that does not (a quiet site at night, a legitimate rush at
a slot opening, an idle site, a shrinking backlog, ...).

Each case is written here as input series (one sample a minute) and the alerts expected at one
evaluation time; the expected annotations are the rule's own templates with the labels and the
value the case expects, so a changed description needs no edit here but a changed figure does.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.rules import RULES_DIR, Windows, render, rule_files

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
WEEK = 7 * 24 * 60  # minutes
DAY = 24 * 60


def ramp(*segments: tuple[float, int], every: int = 1) -> str:
    """Series values in promtool notation: a counter from 0 growing ``rate`` a minute for ``minutes``,
    per segment, sampled every ``every`` minutes."""
    parts = []
    value = 0.0
    first = True
    for rate, span in segments:
        step, minutes = rate * every, span // every
        if first:
            parts.append(f"{_num(value)}+{_num(step)}x{minutes}")
            value += step * minutes
            first = False
        else:
            parts.append(f"{_num(value + step)}+{_num(step)}x{minutes - 1}")
            value += step * minutes
    return " ".join(parts)


def _num(x: float) -> str:
    return f"{x:.6g}"


@dataclass
class Case:
    alert: str
    name: str
    series: dict[str, str]
    eval_minutes: int
    #: (extra labels, the rendered ``$value``) of each alert expected to fire; empty: none fires
    fires: list[tuple[dict[str, str], str]] = field(default_factory=list)
    #: minutes between samples and between rule evaluations (week-long cases sample every 5)
    every: int = 1


UP = {'up{job="slotguard",instance="w1"}': "1x3000"}  # sampled every 5 minutes

# fmt: off
CASES = [
    # ------------------------------------------------------------------ scalping surge
    Case(
        "SlotguardScalpingSurge",
        "a wave of flags at a site with a low baseline fires",
        {
            'slotguard_flags_raised_total{site="93-bobigny",reason_kind="polling"}': ramp(
                (0.003, 1560), (0.2, 60), every=5
            )
        },
        1620,
        [({"site": "93-bobigny"}, "12")],
        every=5,
    ),
    Case(
        "SlotguardScalpingSurge",
        "a new site's first wave fires (no baseline yet)",
        {'slotguard_flags_raised_total{site="69-lyon",reason_kind="speed"}': ramp((0, 30), (0.1, 60))},
        90,
        [({"site": "69-lyon"}, "6")],
    ),
    Case(
        "SlotguardScalpingSurge",
        "a quiet site at night: two flags over an empty baseline do not page",
        {
            'slotguard_flags_raised_total{site="92-nanterre",reason_kind="polling"}': ramp(
                (0, 1590), (0.07, 30), every=5
            )
        },
        1620,
        every=5,
    ),
    Case(
        "SlotguardScalpingSurge",
        "a legitimate rush at a slot opening: events x50, flags at their usual rate",
        {
            'slotguard_flags_raised_total{site="75-paris",reason_kind="speed"}': ramp(
                (0.1667, 1560), (0.2, 60), every=5
            ),
            'slotguard_events_processed_total{site="75-paris",type="slot_search"}': ramp(
                (100, 1560), (5000, 60), every=5
            ),
        },
        1620,
        every=5,
    ),
    # ------------------------------------------------------------------ handoff spike
    Case(
        "SlotguardHandoffSpike",
        "six handoffs in an hour at a site that has almost none fires",
        {'slotguard_handoffs_detected_total{site="93-bobigny"}': ramp((0.001, 1560), (0.1, 60), every=5)},
        1620,
        [({"site": "93-bobigny"}, "6")],
        every=5,
    ),
    Case(
        "SlotguardHandoffSpike",
        "a busy site's usual handoffs (four an hour, all day) do not page",
        {'slotguard_handoffs_detected_total{site="75-paris"}': ramp((0.0667, 1620), every=5)},
        1620,
        every=5,
    ),
    # ------------------------------------------------------------------ stalls
    Case(
        "SlotguardSiteStalled",
        "a site open a week ago at this hour, with nothing processed for 30 min, fires",
        {
            'slotguard_events_processed_total{site="93-bobigny",type="slot_search"}': ramp(
                (10, WEEK + 120), (0, 30), every=5
            ),
            'slotguard_events_processed_total{site="75-paris",type="slot_search"}': ramp((10, WEEK + 150), every=5),
            **UP,
        },
        WEEK + 150,
        [({"site": "93-bobigny"}, "0")],
        every=5,
    ),
    Case(
        "SlotguardSiteStalled",
        "a quiet site at night (no traffic a week ago at this hour either) does not page",
        {
            'slotguard_events_processed_total{site="92-nanterre",type="slot_search"}': ramp(
                (10, 60), (0, WEEK + 90), every=5
            ),
            'slotguard_events_processed_total{site="75-paris",type="slot_search"}': ramp((10, WEEK + 150), every=5),
            **UP,
        },
        WEEK + 150,
        every=5,
    ),
    Case(
        "SlotguardPipelineStalled",
        "every site stops while they were open a week ago: fires (no site label)",
        {
            'slotguard_events_processed_total{site="93-bobigny",type="slot_search"}': ramp(
                (10, WEEK + 120), (0, 30), every=5
            ),
            'slotguard_events_processed_total{site="75-paris",type="slot_search"}': ramp(
                (5, WEEK + 120), (0, 30), every=5
            ),
            **UP,
        },
        WEEK + 150,
        [({}, "0")],
        every=5,
    ),
    Case(
        "SlotguardPipelineStalled",
        "no metrics endpoint answers for 10 min: fires",
        {'up{job="slotguard",instance="w1"}': "1x20 0x20"},
        40,
        [({}, "0")],
    ),
    Case(
        "SlotguardPipelineStalled",
        "one site stops, the others go on: the pipeline is not stalled",
        {
            'slotguard_events_processed_total{site="93-bobigny",type="slot_search"}': ramp(
                (10, WEEK + 120), (0, 30), every=5
            ),
            'slotguard_events_processed_total{site="75-paris",type="slot_search"}': ramp((5, WEEK + 150), every=5),
            **UP,
        },
        WEEK + 150,
        every=5,
    ),
    # ------------------------------------------------------------------ lags
    Case(
        "SlotguardEventTimeLagHigh",
        "15 min behind for 20 min while events flow fires",
        {
            'slotguard_event_time_lag_seconds{site="93-bobigny"}': "900x30",
            'slotguard_events_processed_total{site="93-bobigny",type="login"}': ramp((20, 30)),
        },
        30,
        [({"site": "93-bobigny"}, "15m 0s")],
    ),
    Case(
        "SlotguardEventTimeLagHigh",
        "an idle site's lag grows (no new events) but does not page",
        {
            'slotguard_event_time_lag_seconds{site="92-nanterre"}': "900+60x30",
            'slotguard_events_processed_total{site="92-nanterre",type="login"}': "500x30",
        },
        30,
    ),
    Case(
        "SlotguardConsumerLagGrowing",
        "a backlog over 10,000 that keeps growing fires",
        {
            'slotguard_kafka_consumer_lag_messages{topic="booking-events",partition="0"}': "20000+100x40",
            'slotguard_kafka_consumer_lag_messages{topic="booking-events",partition="1"}': "1000x40",
        },
        40,
        [({"topic": "booking-events"}, "25k")],
    ),
    Case(
        "SlotguardConsumerLagGrowing",
        "a big backlog that shrinks (catching up after a restart) does not page",
        {'slotguard_kafka_consumer_lag_messages{topic="booking-events",partition="0"}': "50000-500x40"},
        40,
    ),
    # ------------------------------------------------------------------ errors
    Case(
        "SlotguardDeadLetterRateHigh",
        "5% of input failing the contract for 20 min fires",
        {
            'slotguard_events_invalid_total{reason_kind="invalid"}': ramp((5, 30)),
            'slotguard_events_processed_total{site="93-bobigny",type="login"}': ramp((95, 30)),
        },
        30,
        [({}, "5%")],
    ),
    Case(
        "SlotguardDeadLetterRateHigh",
        "a stray broken line now and then (0.1%) does not page",
        {
            'slotguard_events_invalid_total{reason_kind="unparsable"}': ramp((0.1, 30)),
            'slotguard_events_processed_total{site="93-bobigny",type="login"}': ramp((99.9, 30)),
        },
        30,
    ),
    Case(
        "SlotguardHistoryWriteFailures",
        "rows that could not be written fire at once",
        {
            'slotguard_history_rows_failed_total{table="events"}': ramp((0, 10), (50, 10)),
            'slotguard_history_rows_written_total{table="events"}': ramp((1000, 20)),
        },
        20,
        [({"table": "events"}, "500")],
    ),
    Case(
        "SlotguardHistoryWriteFailures",
        "retried writes that end up written do not page",
        {
            'slotguard_history_rows_failed_total{table="events"}': "0x20",
            'slotguard_history_write_retries_total{table="events"}': ramp((0, 10), (2, 10)),
        },
        20,
    ),
]
# fmt: on


def _drift_series(after: dict[str, float], change: bool) -> dict[str, str]:
    before = {"0.5": 50, "1.0": 90, "2.0": 99, "3.0": 100, "+Inf": 100}
    series = {
        f'slotguard_score_bucket{{model_version="v", le="{le}"}}': ramp((before[le], DAY), (after[le], 180), every=5)
        for le in before
    }
    if change:
        series['slotguard_model_info{version="v1",feature_hash="a",threshold="2.5"}'] = f"1x{DAY // 5}"
        series['slotguard_model_info{version="v2",feature_hash="a",threshold="2.5"}'] = f"_x{DAY // 5} 1x36"
    else:
        series['slotguard_model_info{version="v1",feature_hash="a",threshold="2.5"}'] = f"1x{(DAY + 180) // 5}"
    return series


SHIFTED = {"0.5": 20, "1.0": 40, "2.0": 70, "3.0": 95, "+Inf": 100}
SAME = {"0.5": 50, "1.0": 90, "2.0": 99, "3.0": 100, "+Inf": 100}
CASES += [
    Case("SlotguardScoreDrift", "a new model whose scores' 90th percentile moved from 1.0 to 2.8 fires",
         _drift_series(SHIFTED, change=True), DAY + 150, [({}, "1.8")], every=5),
    Case("SlotguardScoreDrift", "a new model scoring like the old one does not page",
         _drift_series(SAME, change=True), DAY + 150, every=5),
    Case("SlotguardScoreDrift", "scores shift without a model change (the population changed): not this alert",
         _drift_series(SHIFTED, change=False), DAY + 150, every=5),
]  # fmt: skip


def _rules() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for doc in rule_files().values() for g in doc["groups"] for r in g["rules"]}


def _render(template: str, labels: dict[str, str], value: str) -> str:
    text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], template)
    return re.sub(r"\{\{ \$value[^}]*\}\}", value, text)


def _test_file(case: Case, rules_dir: Path) -> dict[str, Any]:
    rule = _rules()[case.alert]
    expected = []
    for labels, value in case.fires:
        expected.append(
            {
                "exp_labels": {**rule["labels"], **labels},
                "exp_annotations": {k: _render(v, labels, value) for k, v in rule["annotations"].items()},
            }
        )
    return {
        "rule_files": [str(p) for p in sorted(rules_dir.glob("*.yml"))],
        "evaluation_interval": f"{case.every}m",
        "tests": [
            {
                "interval": f"{case.every}m",
                "input_series": [{"series": s, "values": v} for s, v in case.series.items()],
                "alert_rule_test": [
                    {"eval_time": f"{case.eval_minutes}m", "alertname": case.alert, "exp_alerts": expected}
                ],
            }
        ],
    }


def test_committed_rule_files_are_what_the_source_generates() -> None:
    for name, doc in rule_files().items():
        assert (RULES_DIR / name).read_text() == render(doc), f"alerts/rules/{name} is stale: run `make rules`"


def test_every_rule_has_its_annotations_labels_and_runbook_section() -> None:
    runbook = (Path(__file__).resolve().parents[2] / "docs" / "runbook.md").read_text()
    anchors = {_anchor(line[3:]) for line in runbook.splitlines() if line.startswith("## ")}
    for name, rule in _rules().items():
        assert rule["labels"]["severity"] in ("page", "ticket")
        assert rule["labels"]["team"] in ("investigators", "it")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        url = rule["annotations"]["runbook_url"]
        assert url.startswith("docs/runbook.md#")
        assert url.split("#", 1)[1] in anchors, f"{name}: no section {url} in docs/runbook.md"


def _anchor(title: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^a-z0-9 _-]", "", title.strip().lower()).replace(" ", "-")


def test_every_alert_has_a_case_that_fires_and_one_that_does_not() -> None:
    for name in _rules():
        kinds = {bool(c.fires) for c in CASES if c.alert == name}
        assert kinds == {True, False}, f"{name}: cases {kinds}"


def test_promtool_check_rules() -> None:
    done = subprocess.run([PROMTOOL, "check", "rules", *sorted(map(str, RULES_DIR.glob("*.yml")))],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == 2


@pytest.mark.parametrize("case", CASES, ids=[f"{c.alert}: {c.name}" for c in CASES])
def test_promtool_test_rules(case: Case, tmp_path: Path) -> None:
    path = tmp_path / "test.yml"
    path.write_text(yaml.safe_dump(_test_file(case, RULES_DIR), sort_keys=False, width=1000))
    done = subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_compressed_rules_are_the_same_expressions_with_shorter_windows(tmp_path: Path) -> None:
    fast = rule_files(Windows().compressed(600, floor=5))
    slow = rule_files()
    for name in slow:
        for g_slow, g_fast in zip(slow[name]["groups"], fast[name]["groups"], strict=True):
            for r_slow, r_fast in zip(g_slow["rules"], g_fast["rules"], strict=True):
                assert r_slow["alert"] == r_fast["alert"]
                strip = re.compile(r"\[[^\]]*\]|offset \w+|(?<=lag_seconds\) > )\d+")
                assert strip.sub("", r_slow["expr"]) == strip.sub("", r_fast["expr"])
    surge = fast["scalping.yml"]["groups"][0]["rules"][0]["expr"]
    assert "[6s]" in surge and "offset 6s" in surge and "[144s]" in surge
    # the lag threshold is in event time; it grows to the floored rate window it is paired with
    lag = fast["pipeline.yml"]["groups"][0]["rules"][2]["expr"]
    assert "lag_seconds) > 3000" in lag and "[5s]" in lag
    assert "lag_seconds) > 600" in slow["pipeline.yml"]["groups"][0]["rules"][2]["expr"]
