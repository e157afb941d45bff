"""Role names, the label each one gets, and the account mixes (presets and ``role=weight,...``)."""

from __future__ import annotations

import logging
from typing import Final

logger = logging.getLogger(__name__)

ORDINARY: Final = "ordinary"
MOBILE: Final = "mobile"
ANXIOUS_MANUAL: Final = "anxious_manual"
ANXIOUS_AUTOREFRESH: Final = "anxious_autorefresh"
FAMILY: Final = "family"
ASSOCIATION: Final = "association"
BUYER: Final = "buyer"
BOT_DATACENTER: Final = "bot_datacenter"
BOT_RESIDENTIAL: Final = "bot_residential"
SCALPER_HUMAN: Final = "scalper_human"
FARM: Final = "farm"

#: legitimate roles (label ``scalper: false``); buyers are victims, not scalpers
LEGIT_ROLES: Final = (ORDINARY, MOBILE, ANXIOUS_MANUAL, ANXIOUS_AUTOREFRESH, FAMILY, ASSOCIATION, BUYER)
#: scalping roles (label ``scalper: true``), always grouped in operations ``op-...``
SCALPER_ROLES: Final = (BOT_DATACENTER, BOT_RESIDENTIAL, SCALPER_HUMAN, FARM)
ROLES: Final = LEGIT_ROLES + SCALPER_ROLES

ROLE_DESCRIPTIONS: Final[dict[str, str]] = {
    ORDINARY: "searches a few times a day at human hours, books once, mostly attends",
    MOBILE: "ordinary applicant on a mobile network: CGNAT address shared with many users, some IPv6",
    ANXIOUS_MANUAL: "searches by hand every ~20 s to 3 min for hours, some at night; books once, attends",
    ANXIOUS_AUTOREFRESH: "browser auto-refresh at a fixed period (5-60 s) for hours, even all night",
    FAMILY: "one account booking for 2-5 relatives at human speed",
    ASSOCIATION: "office staff (shared IP and PCs) booking for dozens of clients who attend",
    BUYER: "victim: fails for a while, then buys a slot from an operation (handoff or applicant change)",
    BOT_DATACENTER: "fast bots on data-centre IPs with bot or copied UAs, polling day and night",
    BOT_RESIDENTIAL: "bots behind rotating residential proxies with real browser fingerprints",
    SCALPER_HUMAN: "operators driving many accounts by hand, reselling by phone-coordinated handoffs",
    FARM: "account farms created in bursts, shared devices, each account books 1-2 slots at openings",
}

_DEFAULT: Final[dict[str, float]] = {
    ORDINARY: 45,
    MOBILE: 12,
    ANXIOUS_MANUAL: 9,
    ANXIOUS_AUTOREFRESH: 5,
    FAMILY: 8,
    ASSOCIATION: 2,
    BUYER: 6,
    BOT_DATACENTER: 1.5,
    BOT_RESIDENTIAL: 2,
    SCALPER_HUMAN: 3,
    FARM: 6.5,
}

#: named mixes; weights are relative shares of accounts
MIXES: Final[dict[str, dict[str, float]]] = {
    "default": _DEFAULT,
    "no-scalpers": {role: w for role, w in _DEFAULT.items() if role in LEGIT_ROLES and role != BUYER},
    "bot-heavy": {**_DEFAULT, ORDINARY: 37, BUYER: 8, BOT_DATACENTER: 6, BOT_RESIDENTIAL: 6, FARM: 4},
    "farm-heavy": {**_DEFAULT, ORDINARY: 35, BUYER: 8, FARM: 15, BOT_DATACENTER: 1.5, BOT_RESIDENTIAL: 1.5},
    "human-heavy": {**_DEFAULT, ORDINARY: 38, BUYER: 8, SCALPER_HUMAN: 10, FARM: 3, BOT_DATACENTER: 1},
    "legit-heavy": {
        **_DEFAULT,
        ORDINARY: 52,
        BUYER: 2.5,
        BOT_DATACENTER: 0.7,
        BOT_RESIDENTIAL: 0.8,
        SCALPER_HUMAN: 1,
        FARM: 1.5,
    },
}


class MixError(ValueError):
    """A ``--mix`` value that names an unknown preset or role, or has unusable weights."""


def parse_mix(text: str) -> dict[str, float]:
    """Resolve a preset name or ``role=weight,...`` into normalised shares (roles in ROLES order)."""
    text = text.strip()
    if text in MIXES:
        raw = MIXES[text]
    elif "=" in text:
        raw = {}
        for part in text.split(","):
            name, _, value = part.partition("=")
            name = name.strip()
            if name not in ROLES:
                raise MixError(f"unknown role {name!r} in mix; roles: {', '.join(ROLES)}")
            try:
                raw[name] = float(value)
            except ValueError:
                raise MixError(f"weight of {name!r} is not a number: {value!r}") from None
    else:
        raise MixError(f"unknown mix {text!r}; presets: {', '.join(MIXES)}, or role=weight,...")
    if any(w < 0 for w in raw.values()):
        raise MixError("mix weights must be >= 0")
    total = sum(raw.values())
    if total <= 0:
        raise MixError("mix weights sum to zero")
    if raw.get(BUYER, 0) > 0 and not any(raw.get(role, 0) > 0 for role in SCALPER_ROLES):
        raise MixError("buyers need someone to buy from: add at least one scalper role")
    return {role: raw[role] / total for role in ROLES if raw.get(role, 0) > 0}


def role_counts(shares: dict[str, float], accounts: int) -> dict[str, int]:
    """Split ``accounts`` by shares with largest-remainder rounding (deterministic, sums exactly)."""
    exact = {role: share * accounts for role, share in shares.items()}
    counts = {role: int(value) for role, value in exact.items()}
    left = accounts - sum(counts.values())
    by_remainder = sorted(exact, key=lambda role: (-(exact[role] - counts[role]), ROLES.index(role)))
    for role in by_remainder[:left]:
        counts[role] += 1
    return counts
