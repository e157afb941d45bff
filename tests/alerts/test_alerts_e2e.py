"""End to end on real servers: Debian's Prometheus scrapes ``slotguard detect --metrics-port`` replaying
simulated worlds 1800x faster than they happened; the (compressed) rules fire; Debian's Alertmanager
delivers to a webhook receiver.

Two worlds are replayed side by side: a scalping wave (bot-heavy, site 93-bobigny) and a world of
legitimate users only (quiet mix, its site renamed 75-paris). The surge alert must fire for the
wave's site, reach the investigators' receiver with its site label and no personal data; the
legitimate world must raise no alert at all, and nothing must go to IT.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from alerts.replay import Ports, ReplayStack
from features.params import PARAMS
from simulator import WorldParams, simulate

pytestmark = pytest.mark.integration

SPEED = 1800.0
WAVE_SITE = "93-bobigny"
LEGIT_SITE = "75-paris"
ID_FIELDS = ("event_id", "account_id", "session_id", "ip", "device_id", "slot_id", "booking_id", "applicant_id",
             "email_hash", "phone_hash")  # fmt: skip


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("alert-worlds")
    simulate(WorldParams(seed=11, accounts=1500, days=2, sites=1, mix="bot-heavy"), root / "wave")
    simulate(WorldParams(seed=12, accounts=1500, days=1, sites=1, mix="quiet"), root / "legit")
    legit = root / "legit" / "events.jsonl"
    text = legit.read_text()
    assert f'"site":"{WAVE_SITE}"' in text
    legit.write_text(text.replace(f'"site":"{WAVE_SITE}"', f'"site":"{LEGIT_SITE}"'))
    return root / "wave" / "events.jsonl", legit


def first_handoff(events: Path) -> float | None:
    """Event time of the first handoff: a slot cancelled by one account and booked by another within
    the handoff window (the contract's cancel-and-rebook)."""
    cancelled: dict[str, tuple[str, float]] = {}
    for line in events.read_text().splitlines():
        event = json.loads(line)
        t = datetime.fromisoformat(event["ts"]).timestamp()
        if event["type"] == "booking_cancelled":
            cancelled[event["slot_id"]] = (event["account_id"], t)
        elif event["type"] == "booking_created":
            giver = cancelled.pop(event["slot_id"], None)
            if giver and giver[0] != event["account_id"] and 0 <= t - giver[1] <= PARAMS.handoff_window_s:
                return t
    return None


def _ids(events: Path) -> set[str]:
    ids: set[str] = set()
    for line in events.read_text().splitlines():
        event = json.loads(line)
        ids.update(str(event[f]) for f in ID_FIELDS if event.get(f) is not None)
    return ids


def _wait(what: str, stack: ReplayStack, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.check()
        found = check()
        if found:
            return found
        time.sleep(0.5)
    logs = "\n".join(r.log.read_text(errors="replace")[-1500:] for r in stack.replays)
    raise AssertionError(f"{what} not within {timeout:g} s; alerts: {stack.api.alerts()}\n{logs}")


def test_a_wave_fires_the_surge_alert_and_it_reaches_the_investigators(
    worlds: tuple[Path, Path], tmp_path: Path
) -> None:
    wave, legit = worlds
    started = time.time()
    with ReplayStack(tmp_path / "stack", SPEED, [wave, legit], Ports(), hold_s=120) as stack:
        alert = _wait(
            "the surge alert firing", stack, lambda: stack.firing("SlotguardScalpingSurge", site=WAVE_SITE), 90
        )
        fired_wall = datetime.fromisoformat(alert["activeAt"].replace("Z", "+00:00")).timestamp()
        rows = _wait("delivery to the receiver", stack,
                     lambda: stack.delivered("SlotguardScalpingSurge", site=WAVE_SITE), 30)  # fmt: skip
        delivered_wall = rows[0]["received_at"]
        fired_event = stack.event_time_at(WAVE_SITE, fired_wall)
        delivered_event = stack.event_time_at(WAVE_SITE, delivered_wall)
        # the legitimate world is replayed to its end, and a few evaluations after
        _wait("the legitimate replay's end", stack, stack.replays[1].done, 90)
        time.sleep(4)
        ever = stack.api.query("max_over_time(ALERTS[10m])")
        received = stack.receiver.received() if stack.receiver else []
        flagged = stack.api.query_range(
            f'sum(slotguard_flags_raised_total{{site="{WAVE_SITE}"}}) > 0', started, time.time(), 0.5
        )
        first_flag_wall = float(flagged[0]["values"][0][0]) if flagged else None
        first_flag_event = stack.event_time_at(WAVE_SITE, first_flag_wall) if first_flag_wall else None
        wave_start = datetime.fromisoformat(json.loads(wave.read_text().split("\n", 1)[0])["ts"]).timestamp()
        handoff = first_handoff(wave)
        handoff_wall = stack.wall_time_of(WAVE_SITE, handoff) if handoff else None

    # delivered to the investigators, with its site, its figure and no personal data
    row = rows[0]
    assert row["receiver_path"] == "/investigators"
    (notified,) = [a for a in row["notification"]["alerts"] if a["labels"]["alertname"] == "SlotguardScalpingSurge"]
    assert notified["labels"]["site"] == WAVE_SITE
    assert notified["labels"]["severity"] == "page" and notified["labels"]["team"] == "investigators"
    assert WAVE_SITE in notified["annotations"]["description"]
    assert notified["annotations"]["runbook_url"].endswith("#slotguardscalpingsurge")
    text = json.dumps(received)
    leaked = [i for i in _ids(wave) | _ids(legit) if i in text]
    assert not leaked, f"ids in the notifications: {leaked[:5]}"

    # the legitimate world raised nothing; nothing went to IT
    names = {(s["metric"].get("alertname"), s["metric"].get("site")) for s in ever}
    assert not [n for n in names if n[1] == LEGIT_SITE], names
    assert {n for n in names if n[1] != WAVE_SITE} == set(), names
    assert not [r for r in received if r["receiver_path"] != "/investigators"]

    # the figures of the closing note (event time and wall time)
    assert fired_event is not None and delivered_event is not None and delivered_event >= fired_event
    assert first_flag_event is not None and first_flag_wall is not None
    figures: dict[str, Any] = {
        "speed": SPEED,
        "first_flag_after_wave_start_event_s": round(first_flag_event - wave_start),
        "fired_after_wave_start_event_s": round(fired_event - wave_start),
        "fired_after_first_flag_event_s": round(fired_event - first_flag_event),
        "fired_after_first_flag_wall_s": round(fired_wall - first_flag_wall, 2),
        "delivered_after_fired_wall_s": round(delivered_wall - fired_wall, 2),
        "delivered_after_fired_event_s": round(delivered_event - fired_event),
        "fired_wall_after_test_start_s": round(fired_wall - started, 1),
    }
    if handoff is not None and handoff_wall is not None:
        figures |= {
            "first_handoff_after_wave_start_event_s": round(handoff - wave_start),
            "fired_after_first_handoff_event_s": round(fired_event - handoff),
            "delivered_after_first_handoff_event_s": round(delivered_event - handoff),
            "fired_after_first_handoff_wall_s": round(fired_wall - handoff_wall, 2),
            "delivered_after_first_handoff_wall_s": round(delivered_wall - handoff_wall, 2),
        }
    print("alert figures:", json.dumps(figures))
