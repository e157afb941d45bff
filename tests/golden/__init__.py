"""Golden feature vectors: what every feature computes on one fixed scene, per feature-set version.

The scene's events run through the embedded engine (the rounds ``slotguard detect`` runs), so the
golden vectors are what a deployed model is served.

``python -m tests.golden`` rewrites ``features.json`` from the current code. Do that only after
bumping ``features.registry.FEATURE_SET_VERSION``: the golden test fails when the vectors change
while the version stays the same (a model trained on the old meaning would be served the new one).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from features.config import EngineConfig
from features.engine import EmbeddedEngine
from features.registry import FEATURE_NAMES, FEATURE_SET_VERSION, vector
from tests.factories import Feed

GOLDEN = Path(__file__).with_name("features.json")
HOUR, DAY = 3600.0, 86400.0


def scene() -> Feed:
    """One scene exercising every feature: a bot, an operation's shared phone, a buyer, a person, a watcher
    and the accounts booking what it finds."""
    feed = Feed()
    for i, account in enumerate(("bot", "idle", "n1")):
        feed(
            "account_created",
            i * 30,
            account_id=account,
            email_hash=f"h{i}",
            ip=f"203.0.113.{i + 1}",
            email_domain="x.site",
            phone_hash="ph",
        )
    feed.searches("bot", 15 * HOUR, 3.0, 1300, ip="51.68.0.1", asn=16276, user_agent="curl/8", device_id="d", results=1)
    for i in range(3):
        feed.release(16 * HOUR + i, f"s{i}")
        feed("slot_search", 16 * HOUR + i + 0.2, account_id="bot", service="titre-sejour", results=1)
        feed.book(16 * HOUR + i + 0.5, "bot", f"s{i}", f"b{i}", applicant="same")
    feed("booking_modified", 17 * HOUR, account_id="bot", booking_id="b0", applicant_id="x")
    feed.cancel(18 * HOUR, "bot", "s1", "b1")
    feed("slot_search", 18 * HOUR + 1, account_id="buyer", service="titre-sejour", results=1)
    feed.book(18 * HOUR + 3, "buyer", "s1", "b9")
    feed("booking_no_show", 14 * DAY, account_id="bot", booking_id="b2")
    feed.release(14 * DAY + 1, "s7")
    feed.book(14 * DAY + 1.5, "bot", "s7", "b7", applicant="other")
    for account in ("idle", "n1", "person"):
        feed("login", 14 * DAY, account_id=account, success=True, device_id="d", ip="51.68.0.1", asn=16276)
    feed.release(14 * DAY + 20, "s8")
    feed.book(14 * DAY + 20.4, "n1", "s8", "b8", applicant="n1-app")
    feed.searches("person", 2 * DAY, 40.0, 30, results=0)
    feed.release(2 * DAY + 1300, "s5")
    feed("slot_search", 2 * DAY + 1250, account_id="person", service="titre-sejour", results=1)
    feed.book(2 * DAY + 1310, "person", "s5", "b5", applicant="me")
    feed("booking_attended", 14 * DAY + 60, account_id="person", booking_id="b5")
    for i in range(12):
        feed("login", 14 * DAY + i, account_id="bot", success=True, ip=f"90.{i}.0.1", asn=3215)
    for i in range(3):  # split roles: a watcher finds, three accounts book without searching
        at = 5 * DAY + i * 600
        feed("slot_search", at - 60, account_id="watcher", service="titre-sejour", results=0)
        feed.release(at - 1, f"w{i}")
        feed("slot_search", at, account_id="watcher", service="titre-sejour", results=1)
        feed.book(at + 2 + 40 * i, f"farm{i}", f"w{i}", f"bw{i}", applicant=f"fa{i}")  # relays of 2 to 82 s
    # a stranger's find shortly before the relayed booking: traced to both, the watcher among them
    feed("slot_search", 5 * DAY + 1200 + 30, account_id="stranger", service="titre-sejour", results=1)
    return feed


def vectors(feed: Feed) -> dict[str, list[float | None]]:
    """Every account's vector after the engine ran the scene, NaN written as null (JSON has no NaN)."""
    engine = EmbeddedEngine.on_dicts(lambda batch: None, EngineConfig(lateness_s=30 * DAY), "test-key")
    engine.run(feed.events)
    out: dict[str, list[float | None]] = {}
    for account in sorted(engine.stores.accounts):
        values = vector(engine.stores.accounts[account])
        out[account] = [None if math.isnan(v) else round(v, 9) for v in values]
    return out


def main() -> int:
    doc = {"feature_set_version": FEATURE_SET_VERSION, "features": list(FEATURE_NAMES), "vectors": vectors(scene())}
    GOLDEN.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN} for feature set version {FEATURE_SET_VERSION}", file=sys.stderr)
    return 0
