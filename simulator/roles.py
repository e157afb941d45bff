"""Role names, the label each one gets, and the account mixes (presets, ``random`` and ``role=weight,...``).

A mix gives the share of accounts per role. Presets may also bias some structural draws
(``Variants``): the ``hard`` preset prefers slow paid clickers and distributed farms, ``mobile``
prefers random release hours, and so on. ``random`` draws the mix itself from the seed.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass
from typing import Final

logger = logging.getLogger(__name__)

ORDINARY: Final = "ordinary"
MOBILE: Final = "mobile"
ANXIOUS_MANUAL: Final = "anxious_manual"
ANXIOUS_AUTOREFRESH: Final = "anxious_autorefresh"
FAMILY: Final = "family"
ASSOCIATION: Final = "association"
LAWYER: Final = "lawyer"
PUBLIC_PC: Final = "public_pc"
INTERMEDIARY_CUSTOMER: Final = "intermediary_customer"
BUYER: Final = "buyer"
BOT_DATACENTER: Final = "bot_datacenter"
BOT_RESIDENTIAL: Final = "bot_residential"
BOT_MOBILE: Final = "bot_mobile"
SCALPER_HUMAN: Final = "scalper_human"
FARM: Final = "farm"
BOOK_TO_ORDER: Final = "book_to_order"

#: legitimate roles (label ``scalper: false``); buyers are victims, not scalpers
LEGIT_ROLES: Final = (
    ORDINARY,
    MOBILE,
    ANXIOUS_MANUAL,
    ANXIOUS_AUTOREFRESH,
    FAMILY,
    ASSOCIATION,
    LAWYER,
    PUBLIC_PC,
    INTERMEDIARY_CUSTOMER,
    BUYER,
)
#: scalping roles (label ``scalper: true``), always grouped in operations ``op-...``; the role is the style
SCALPER_ROLES: Final = (BOT_DATACENTER, BOT_RESIDENTIAL, BOT_MOBILE, SCALPER_HUMAN, FARM, BOOK_TO_ORDER)
ROLES: Final = LEGIT_ROLES + SCALPER_ROLES

ROLE_DESCRIPTIONS: Final[dict[str, str]] = {
    ORDINARY: "searches a few times a day at human hours, books once, mostly attends",
    MOBILE: "ordinary applicant on a mobile network: CGNAT address shared with many users, some IPv6",
    ANXIOUS_MANUAL: "searches by hand every ~20 s to 3 min for hours, some at night; books once, attends",
    ANXIOUS_AUTOREFRESH: "browser auto-refresh at a fixed period (5-60 s) for hours, even all night, some in tabs",
    FAMILY: "books for 2-5 relatives at human speed; some households share one PC between relatives' accounts",
    ASSOCIATION: "office staff (shared IP and PCs) booking for dozens of clients who attend",
    LAWYER: "small law offices (shared IP and PCs) booking for many clients who attend",
    PUBLIC_PC: "strangers booking their own appointment on the same cyber-café / library / social-centre PC",
    INTERMEDIARY_CUSTOMER: "a legal paid intermediary books with this customer's own account, from its office",
    BUYER: "victim: fails for a while, then buys a slot (handoff, applicant change, book-to-order), or is scammed",
    BOT_DATACENTER: "fast bots on data-centre IPs or VPNs with bot or copied UAs, polling day and night",
    BOT_RESIDENTIAL: "bots behind rotating residential proxies with real browser fingerprints",
    BOT_MOBILE: "bots on several phones behind carrier-grade NAT, each phone driving several accounts",
    SCALPER_HUMAN: "operators or paid clickers booking by hand at human speed, reselling the holds",
    FARM: "many accounts each booking once or twice: at openings, on a watcher's tip, or spread out",
    BOOK_TO_ORDER: "collects the buyer's identity first, then books in the buyer's name (the applicants attend)",
}

#: the operation styles that poll with scripts (the others are human-paced unless a script watches for them)
BOT_STYLES: Final = (BOT_DATACENTER, BOT_RESIDENTIAL, BOT_MOBILE)


@dataclass(frozen=True)
class Variants:
    """Structural biases a preset applies to the per-world and per-operation draws (None: the usual prior)."""

    #: scalper_human pace weights: ``operator`` (a few people at openings) / ``paid_clickers`` (many, by day)
    human_pace: dict[str, float] | None = None
    #: farm layout weights: ``concentrated`` (shared kit) / ``distributed`` (each account its own)
    farm_layout: dict[str, float] | None = None
    #: farm targeting weights: ``openings`` / ``watcher`` / ``spread``
    farm_targeting: dict[str, float] | None = None
    #: pace of the watchers of non-bot operations: ``script`` / ``human``
    watcher_pace: dict[str, float] | None = None
    #: probability that a service's opening schedule is random (instead of the world's draw)
    random_schedule_share: float | None = None
    #: force the legitimate shared-device variants (family PCs, multi-tab refresh) to appear
    shared_devices: bool = False

    def describe(self) -> dict[str, object]:
        """The non-default fields, for world.json."""
        out: dict[str, object] = {}
        for name in ("human_pace", "farm_layout", "farm_targeting", "watcher_pace", "random_schedule_share"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.shared_devices:
            out["shared_devices"] = True
        return out


_DEFAULT: Final[dict[str, float]] = {
    ORDINARY: 42,
    MOBILE: 12,
    ANXIOUS_MANUAL: 8.5,
    ANXIOUS_AUTOREFRESH: 5,
    FAMILY: 7.5,
    ASSOCIATION: 2,
    LAWYER: 1,
    PUBLIC_PC: 2.5,
    INTERMEDIARY_CUSTOMER: 1.5,
    BUYER: 6,
    BOT_DATACENTER: 1.5,
    BOT_RESIDENTIAL: 2,
    SCALPER_HUMAN: 3,
    FARM: 6.5,
}

_LEGIT_ONLY: Final = {role: w for role, w in _DEFAULT.items() if role in LEGIT_ROLES and role != BUYER}

#: named mixes with fixed shares; weights are relative shares of accounts (``random`` is drawn per seed)
MIXES: Final[dict[str, dict[str, float]]] = {
    "default": _DEFAULT,
    "no-scalpers": _LEGIT_ONLY,
    "bot-heavy": {**_DEFAULT, ORDINARY: 34, BUYER: 8, BOT_DATACENTER: 6, BOT_RESIDENTIAL: 6, FARM: 4},
    "farm-heavy": {**_DEFAULT, ORDINARY: 32, BUYER: 8, FARM: 15, BOT_DATACENTER: 1.5, BOT_RESIDENTIAL: 1.5},
    "human-heavy": {**_DEFAULT, ORDINARY: 35, BUYER: 8, SCALPER_HUMAN: 10, FARM: 3, BOT_DATACENTER: 1},
    "legit-heavy": {
        **_DEFAULT,
        ORDINARY: 49,
        BUYER: 2.5,
        BOT_DATACENTER: 0.7,
        BOT_RESIDENTIAL: 0.8,
        SCALPER_HUMAN: 1,
        FARM: 1.5,
    },
    "hard": {
        ORDINARY: 38,
        MOBILE: 12,
        ANXIOUS_MANUAL: 8,
        ANXIOUS_AUTOREFRESH: 5,
        FAMILY: 7,
        ASSOCIATION: 2,
        LAWYER: 1,
        PUBLIC_PC: 3,
        INTERMEDIARY_CUSTOMER: 2,
        BUYER: 7,
        SCALPER_HUMAN: 7,
        FARM: 6,
        BOT_RESIDENTIAL: 2,
    },
    "mobile": {
        ORDINARY: 33,
        MOBILE: 20,
        ANXIOUS_MANUAL: 7,
        ANXIOUS_AUTOREFRESH: 4,
        FAMILY: 6,
        ASSOCIATION: 2,
        LAWYER: 1,
        PUBLIC_PC: 5,
        INTERMEDIARY_CUSTOMER: 1.5,
        BUYER: 8,
        BOT_MOBILE: 5,
        BOOK_TO_ORDER: 4,
        BOT_RESIDENTIAL: 2.5,
    },
    "quiet": {
        ORDINARY: 38,
        MOBILE: 16,
        ANXIOUS_MANUAL: 10,
        ANXIOUS_AUTOREFRESH: 6,
        FAMILY: 10,
        ASSOCIATION: 5,
        LAWYER: 3,
        PUBLIC_PC: 8,
        INTERMEDIARY_CUSTOMER: 4,
    },
}

RANDOM_MIX: Final = "random"
#: every preset name accepted by ``--mix``
PRESETS: Final = (*MIXES, RANDOM_MIX)

PRESET_DESCRIPTIONS: Final[dict[str, str]] = {
    "default": "every legitimate role, buyers, bot/human/farm operations",
    "no-scalpers": "legitimate roles only, no buyers (threshold calibration)",
    "bot-heavy": "more polling bots",
    "farm-heavy": "more account farms",
    "human-heavy": "more human-paced operators",
    "legit-heavy": "few scalpers",
    "hard": "slow paid clickers, distributed farms, residential proxies: the hardest mix",
    "mobile": "bots on phones behind CGNAT, book-to-order sellers, proxies, public PCs, random release hours",
    "quiet": "no scalping, no buyers; public PCs, associations, lawyers, intermediaries, families, anxious, mobile",
    "random": "the mix itself drawn from the seed: which roles appear and their shares",
}

PRESET_VARIANTS: Final[dict[str, Variants]] = {
    "hard": Variants(
        human_pace={"operator": 0.2, "paid_clickers": 0.8},
        farm_layout={"concentrated": 0.1, "distributed": 0.9},
        farm_targeting={"openings": 0.2, "watcher": 0.35, "spread": 0.45},
        watcher_pace={"script": 0.3, "human": 0.7},
    ),
    "mobile": Variants(random_schedule_share=0.6, shared_devices=True),
    "quiet": Variants(shared_devices=True),
}


class MixError(ValueError):
    """A ``--mix`` value that names an unknown preset or role, or has unusable weights."""


def random_mix(seed: int) -> dict[str, float]:
    """A mix drawn from the seed: which roles appear (ordinary always does) and their weights."""
    rng = random.Random(f"{seed}/mix")
    raw: dict[str, float] = {ORDINARY: round(rng.uniform(20, 50), 2)}
    for role in LEGIT_ROLES:
        if role in (ORDINARY, BUYER):
            continue
        if rng.random() < 0.8:
            raw[role] = round(_DEFAULT[role] * math.exp(rng.gauss(0.0, 0.6)), 2)
    if rng.random() < 0.85:
        styles = [role for role in SCALPER_ROLES if rng.random() < 0.5] or [rng.choice(SCALPER_ROLES)]
        for role in styles:
            raw[role] = round(rng.uniform(0.8, 8.0), 2)
        if rng.random() < 0.9:
            raw[BUYER] = round(rng.uniform(2.0, 10.0), 2)
    return raw


def parse_mix(text: str, seed: int = 0) -> dict[str, float]:
    """Resolve a preset, ``random`` (drawn from ``seed``) or ``role=weight,...`` into normalised shares."""
    text = text.strip()
    if text in MIXES:
        raw = MIXES[text]
    elif text == RANDOM_MIX:
        raw = random_mix(seed)
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
        raise MixError(f"unknown mix {text!r}; presets: {', '.join(PRESETS)}, or role=weight,...")
    if any(w < 0 for w in raw.values()):
        raise MixError("mix weights must be >= 0")
    total = sum(raw.values())
    if total <= 0:
        raise MixError("mix weights sum to zero")
    if raw.get(BUYER, 0) > 0 and not any(raw.get(role, 0) > 0 for role in SCALPER_ROLES):
        raise MixError("buyers need someone to buy from: add at least one scalper role")
    return {role: raw[role] / total for role in ROLES if raw.get(role, 0) > 0}


def preset_variants(text: str, seed: int = 0) -> Variants:
    """The structural biases of a preset (``random`` draws its own from the seed; none for custom mixes)."""
    text = text.strip()
    if text != RANDOM_MIX:
        return PRESET_VARIANTS.get(text, Variants())
    rng = random.Random(f"{seed}/mix-variants")

    def maybe(keys: tuple[str, ...]) -> dict[str, float] | None:
        if rng.random() < 0.5:
            return None
        return {key: round(rng.uniform(0.05, 1.0), 3) for key in keys}

    return Variants(
        human_pace=maybe(("operator", "paid_clickers")),
        farm_layout=maybe(("concentrated", "distributed")),
        farm_targeting=maybe(("openings", "watcher", "spread")),
        watcher_pace=maybe(("script", "human")),
        random_schedule_share=round(rng.uniform(0.1, 0.8), 3) if rng.random() < 0.4 else None,
        shared_devices=rng.random() < 0.4,
    )


def role_counts(shares: dict[str, float], accounts: int) -> dict[str, int]:
    """Split ``accounts`` by shares with largest-remainder rounding (deterministic, sums exactly)."""
    exact = {role: share * accounts for role, share in shares.items()}
    counts = {role: int(value) for role, value in exact.items()}
    left = accounts - sum(counts.values())
    by_remainder = sorted(exact, key=lambda role: (-(exact[role] - counts[role]), ROLES.index(role)))
    for role in by_remainder[:left]:
        counts[role] += 1
    return counts
