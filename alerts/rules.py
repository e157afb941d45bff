"""The Prometheus alert rules, written once here: ``alerts/rules/*.yml`` are generated from this.

Every window, ``for`` duration and offset is a field of :class:`Windows`. The production rules use
the defaults; the end-to-end test replays a world N times faster than it happened and generates
the same rules with every duration divided by N (:meth:`Windows.compressed`), so what it tests is
these expressions, not a copy. Thresholds that are counts or ratios do not change with time
compression; the event-time lag threshold is in event-time seconds, which a replay's clock keeps.

``python -m alerts.rules`` rewrites the committed files (``make rules``); a test fails when they
differ from what this module generates.

Label conventions: every alert has ``severity`` (``page``: someone acts now; ``ticket``: within
the day) and ``team`` (``investigators`` for scalping, ``it`` for the pipeline), which
``alerts/alertmanager.yml`` routes on; per-site alerts keep the ``site`` label.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

RULES_DIR = Path(__file__).resolve().parent / "rules"
#: where the runbook's sections are; a deployment regenerates with its own URL (``--runbook-base``)
RUNBOOK_BASE = "docs/runbook.md"
#: the Prometheus job name of slotguard's metrics endpoints (see ``alerts/prometheus.yml``)
JOB = "slotguard"


@dataclass(frozen=True)
class Windows:
    """Every duration the rules use, in seconds."""

    #: recent window a surge of flags is counted over
    surge: float = 3600
    #: the site's own baseline: the flag rate over this span, before the recent window
    baseline: float = 86400
    #: recent window for handoffs
    handoff: float = 3600
    #: traffic this long ago at the same hour says the site is open now (a weekly pattern)
    open_offset: float = 604800
    #: how long a site may process nothing before it counts as stalled
    stall: float = 900
    #: window for rates of processed events, dead letters and history failures
    rate: float = 600
    #: window over which consumer lag must keep growing
    lag_growth: float = 900
    #: window of the score distribution compared across a model change
    score: float = 3600
    #: how far back a model change counts ("after a model change")
    model_change: float = 86400
    for_surge: float = 0
    for_handoff: float = 0
    for_stall: float = 300
    for_lag: float = 600
    for_dead_letters: float = 600
    for_drift: float = 1800
    for_history: float = 0
    #: no window is shorter than this (a rate needs several scrapes in its window)
    floor: float = 0
    #: event-time lag that alerts, in event-time seconds (a replay's clock keeps event time, so
    #: this is not compressed); never shorter than the rate window it is paired with, so that a
    #: quiet spell at a site (no event for a while: its lag grows) cannot pass for a backlog
    lag_max: float = 600

    def compressed(self, factor: float, floor: float) -> Windows:
        """The same rules for a replay ``factor`` times faster than real time (windows at least ``floor``)."""
        kept = ("floor", "lag_max")
        scaled = {f.name: getattr(self, f.name) / factor for f in fields(self) if f.name not in kept}
        rate_window = max(scaled["rate"], floor)
        return replace(self, floor=floor, lag_max=max(self.lag_max, rate_window * factor), **scaled)

    def d(self, name: str) -> str:
        """A duration in PromQL syntax (whole seconds, or ``Nm``/``Nh``/``Nd`` when it divides)."""
        value = getattr(self, name)
        # a ``for`` of zero stays zero; any other duration is at least the floor
        floor = 0 if name.startswith("for_") and value == 0 else math.ceil(self.floor)
        seconds = max(math.ceil(value), floor)
        return _duration(seconds)


def _duration(seconds: int) -> str:
    if seconds == 0:
        return "0s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


#: thresholds (not durations: the same whatever the replay speed)
SURGE_MIN_FLAGS = 4
SURGE_RATIO = 3
HANDOFF_MIN = 3
HANDOFF_RATIO = 3
#: events per second (averaged over the ``stall`` window, a week ago) above which a site is open
OPEN_MIN_RATE = 0.01
CONSUMER_LAG_MIN = 10_000
DEAD_LETTER_MAX_SHARE = 0.01
DRIFT_MAX_SHARE = 0.5


def _runbook(base: str, alert: str) -> str:
    return f"{base}#{alert.lower()}"


def _alert(
    name: str,
    expr: str,
    for_: str,
    severity: str,
    team: str,
    summary: str,
    description: str,
    base: str,
) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": name, "expr": _block(expr)}
    if for_ != "0s":
        rule["for"] = for_
    rule["labels"] = {"severity": severity, "team": team}
    rule["annotations"] = {"summary": summary, "description": description, "runbook_url": _runbook(base, name)}
    return rule


def _block(expr: str) -> str:
    lines = [line.rstrip() for line in expr.strip().splitlines()]
    return "\n".join(lines) + "\n" if len(lines) > 1 else lines[0]


def scalping_groups(w: Windows, base: str = RUNBOOK_BASE) -> list[dict[str, Any]]:
    """Alerts for investigators: what the detection sees in the bookings."""
    flags = "slotguard_flags_raised_total"
    handoffs = "slotguard_handoffs_detected_total"
    surge = f"""
sum by (site) (increase({flags}[{w.d("surge")}])) >= {SURGE_MIN_FLAGS}
and
sum by (site) (rate({flags}[{w.d("surge")}]))
  > {SURGE_RATIO} * (
    sum by (site) (rate({flags}[{w.d("baseline")}] offset {w.d("surge")}))
    or
    0 * sum by (site) (rate({flags}[{w.d("surge")}]))
  )
"""
    handoff = f"""
sum by (site) (increase({handoffs}[{w.d("handoff")}])) >= {HANDOFF_MIN}
and
sum by (site) (rate({handoffs}[{w.d("handoff")}]))
  > {HANDOFF_RATIO} * (
    sum by (site) (rate({handoffs}[{w.d("baseline")}] offset {w.d("handoff")}))
    or
    0 * sum by (site) (rate({handoffs}[{w.d("handoff")}]))
  )
"""
    return [
        {
            "name": "slotguard-scalping",
            "rules": [
                _alert(
                    "SlotguardScalpingSurge", surge, w.d("for_surge"), "page", "investigators",
                    "Scalping surge at {{ $labels.site }}",
                    "{{ $value | humanize }} flags at {{ $labels.site }} over the last "
                    f"{w.d('surge')}: more than {SURGE_RATIO}x the site's own rate over the {w.d('baseline')} "
                    f"before, and at least {SURGE_MIN_FLAGS}. A scalping operation is probably active.",
                    base,
                ),
                _alert(
                    "SlotguardHandoffSpike", handoff, w.d("for_handoff"), "page", "investigators",
                    "Slot handoffs spiking at {{ $labels.site }}",
                    "{{ $value | humanize }} handoffs at {{ $labels.site }} over the last "
                    f"{w.d('handoff')} (a cancel, then another account books the slot moments later): more than "
                    f"{HANDOFF_RATIO}x the site's usual rate. Slots are probably being resold.",
                    base,
                ),
            ],
        }
    ]  # fmt: skip


def pipeline_groups(w: Windows, base: str = RUNBOOK_BASE) -> list[dict[str, Any]]:
    """Alerts for IT: the pipeline itself is sick."""
    events = "slotguard_events_processed_total"
    invalid = "slotguard_events_invalid_total"
    site_stalled = f"""
sum by (site) (rate({events}[{w.d("stall")}])) == 0
and
sum by (site) (rate({events}[{w.d("stall")}] offset {w.d("open_offset")})) > {OPEN_MIN_RATE}
"""
    pipeline_stalled = f"""
(
  sum(rate({events}[{w.d("stall")}])) == 0
  and
  sum(rate({events}[{w.d("stall")}] offset {w.d("open_offset")})) > {OPEN_MIN_RATE}
)
or
max(up{{job="{JOB}"}}) == 0
"""
    lag = f"""
max by (site) (slotguard_event_time_lag_seconds) > {w.lag_max:g}
and
sum by (site) (rate({events}[{w.d("rate")}])) > 0
"""
    consumer_lag = f"""
sum by (topic) (slotguard_kafka_consumer_lag_messages) > {CONSUMER_LAG_MIN}
and
delta(sum by (topic) (slotguard_kafka_consumer_lag_messages)[{w.d("lag_growth")}:]) > 0
"""
    dead_letters = f"""
sum(rate({invalid}[{w.d("rate")}]))
  / (sum(rate({invalid}[{w.d("rate")}])) + sum(rate({events}[{w.d("rate")}])))
> {DEAD_LETTER_MAX_SHARE}
"""
    history = f"""
sum by (table) (increase(slotguard_history_rows_failed_total[{w.d("rate")}])) > 0
"""
    buckets = f"slotguard_score_bucket[{w.d('score')}]"
    p90 = f"histogram_quantile(0.9, sum by (le) (rate({buckets}))"
    p90_before = f"histogram_quantile(0.9, sum by (le) (rate({buckets} offset {w.d('model_change')})))"
    drift = f"""
abs({p90}) - {p90_before})
  > {DRIFT_MAX_SHARE} * {p90_before}
and on ()
count(count by (version) (count_over_time(slotguard_model_info[{w.d("model_change")}]))) > 1
"""
    return [
        {
            "name": "slotguard-pipeline",
            "rules": [
                _alert(
                    "SlotguardPipelineStalled", pipeline_stalled, w.d("for_stall"), "page", "it",
                    "slotguard processes no events at all",
                    f"No site had an event processed in the last {w.d('stall')} although sites had traffic "
                    f"{w.d('open_offset')} ago at this hour, or no slotguard metrics endpoint answers.",
                    base,
                ),
                _alert(
                    "SlotguardSiteStalled", site_stalled, w.d("for_stall"), "page", "it",
                    "No events processed for {{ $labels.site }} while it is open",
                    f"{{{{ $labels.site }}}} had no event processed in the last {w.d('stall')}, although it had "
                    f"traffic {w.d('open_offset')} ago at this hour: the site is open but nothing reaches detection.",
                    base,
                ),
                _alert(
                    "SlotguardEventTimeLagHigh", lag, w.d("for_lag"), "ticket", "it",
                    "slotguard is {{ $value | humanizeDuration }} behind at {{ $labels.site }}",
                    "Events for {{ $labels.site }} are processed {{ $value | humanizeDuration }} after they "
                    f"happened (more than {w.lag_max:g} s): flags arrive too late to act on.",
                    base,
                ),
                _alert(
                    "SlotguardConsumerLagGrowing", consumer_lag, w.d("for_lag"), "ticket", "it",
                    "Kafka consumer lag growing on {{ $labels.topic }}",
                    "{{ $value | humanize }} messages not yet read on {{ $labels.topic }}, and the backlog grew "
                    f"over the last {w.d('lag_growth')}: the workers do not keep up.",
                    base,
                ),
                _alert(
                    "SlotguardDeadLetterRateHigh", dead_letters, w.d("for_dead_letters"), "ticket", "it",
                    "{{ $value | humanizePercentage }} of input goes to dead letters",
                    "{{ $value | humanizePercentage }} of input events failed the contract over the last "
                    f"{w.d('rate')} (more than {DEAD_LETTER_MAX_SHARE:.0%}): a producer is probably sending "
                    "a changed or broken format.",
                    base,
                ),
                _alert(
                    "SlotguardHistoryWriteFailures", history, w.d("for_history"), "page", "it",
                    "History rows for {{ $labels.table }} could not be written",
                    "{{ $value | humanize }} rows of {{ $labels.table }} could not be written to the history "
                    f"store over the last {w.d('rate')}: investigators will miss evidence.",
                    base,
                ),
                _alert(
                    "SlotguardScoreDrift", drift, w.d("for_drift"), "ticket", "it",
                    "Score distribution shifted after a model change",
                    "The 90th percentile of scores moved by {{ $value | humanize }} against "
                    f"{w.d('model_change')} ago, and the model version changed in that time: the new model "
                    "may flag far more or far fewer accounts.",
                    base,
                ),
            ],
        }
    ]  # fmt: skip


def rule_files(w: Windows | None = None, base: str = RUNBOOK_BASE) -> dict[str, dict[str, Any]]:
    """File name -> rule file document."""
    w = w or Windows()
    return {"scalping.yml": {"groups": scalping_groups(w, base)}, "pipeline.yml": {"groups": pipeline_groups(w, base)}}


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)

HEADER = "# Generated by `python -m alerts.rules` from alerts/rules.py: edit that, not this file.\n"


def render(doc: dict[str, Any]) -> str:
    return HEADER + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=1000)


def write(directory: Path, w: Windows | None = None, base: str = RUNBOOK_BASE) -> list[Path]:
    """Write the rule files into ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, doc in rule_files(w, base).items():
        path = directory / name
        path.write_text(render(doc))
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alerts.rules", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RULES_DIR, help="directory to write (default: alerts/rules)")
    parser.add_argument("--runbook-base", default=RUNBOOK_BASE, help="URL of docs/runbook.md in your deployment")
    parser.add_argument("--compress", type=float, help="divide every duration by this (replays, tests)")
    parser.add_argument("--floor", type=float, default=5.0, help="shortest window when compressed (seconds)")
    args = parser.parse_args(argv)
    windows = Windows().compressed(args.compress, args.floor) if args.compress else Windows()
    for path in write(args.out, windows, args.runbook_base):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
