"""Per-operation structure, drawn from the seed: who watches and who books, how slots reach buyers,
how unsold holds end, which infrastructure, how accounts are created and named, whether it scams.

A world's operations differ in *structure*, not only in numbers, so that a detector cannot learn
one shape of scalping. Every draw made here is recorded in world.json under the operation's
``structure`` (categorical choices) and its ``traits`` (timings, sizes).
"""

from __future__ import annotations

import logging
import math
import random
from typing import Any, Final

from simulator.network import DATACENTER
from simulator.params import Draws
from simulator.roles import (
    BOOK_TO_ORDER,
    BOT_DATACENTER,
    BOT_MOBILE,
    BOT_RESIDENTIAL,
    BOT_STYLES,
    FARM,
    SCALPER_HUMAN,
    Variants,
)

logger = logging.getLogger(__name__)

#: how a held slot reaches a buyer
MECHANISMS: Final = ("handoff_buyer_device", "handoff_seller_operated", "applicant_change", "book_to_order")
#: kinds of infrastructure an operation can run on
INFRA_KINDS: Final = ("datacenter", "vpn", "residential_proxy", "mobile_phones", "cyber_cafe", "home")

#: prior weights of the infrastructure of each style's watchers (farms depend on their layout)
STYLE_INFRA: Final[dict[str, dict[str, float]]] = {
    BOT_DATACENTER: {"datacenter": 0.8, "vpn": 0.2},
    BOT_RESIDENTIAL: {"residential_proxy": 1.0},
    BOT_MOBILE: {"mobile_phones": 1.0},
    SCALPER_HUMAN: {"home": 0.45, "cyber_cafe": 0.15, "vpn": 0.15, "mobile_phones": 0.15, "residential_proxy": 0.1},
    "farm/concentrated": {"datacenter": 0.4, "residential_proxy": 0.35, "mobile_phones": 0.25},
    "farm/distributed": {"residential_proxy": 0.45, "mobile_phones": 0.3, "home": 0.25},
    BOOK_TO_ORDER: {
        "home": 0.3,
        "mobile_phones": 0.3,
        "cyber_cafe": 0.1,
        "vpn": 0.1,
        "datacenter": 0.1,
        "residential_proxy": 0.1,
    },
}
#: infrastructure of bookers when it differs from the watchers'
BOOKER_INFRA: Final = {"mobile_phones": 0.35, "residential_proxy": 0.3, "home": 0.25, "cyber_cafe": 0.1}

_CREATION: Final[dict[str, dict[str, float]]] = {
    "bot": {"long_before": 0.5, "mixed": 0.3, "trickle": 0.2},
    BOT_MOBILE: {"long_before": 0.4, "burst": 0.3, "trickle": 0.3},
    "human": {"long_before": 0.5, "trickle": 0.3, "mixed": 0.2},
}
_EMAIL: Final[dict[str, dict[str, float]]] = {
    "bot": {
        "throwaway_domain": 0.3,
        "several_domains": 0.15,
        "disposable": 0.2,
        "fresh_webmail": 0.25,
        "free_mail": 0.1,
    },
    "human": {"free_mail": 0.45, "fresh_webmail": 0.3, "disposable": 0.1, "throwaway_domain": 0.15},
}
_PHONES: Final = {"none": 0.25, "shared": 0.3, "per_account": 0.3, "some": 0.15}
_SELLER_DEVICE: Final = {"holder_kit": 0.4, "seller_phone": 0.4, "seller_pc": 0.2}


def weighted(rng: random.Random, weights: dict[str, float]) -> str:
    """A key drawn by weight (keys in insertion order, so draws are reproducible)."""
    keys = [k for k, w in weights.items() if w > 0]
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _handoff_mix(rng: random.Random, prior: dict[str, float], style: str) -> dict[str, float]:
    """The operation's own mix of delivery mechanisms: some mechanisms absent, the rest weighted."""
    raw = {m: prior.get(m, 0.0) * rng.expovariate(1.0) if rng.random() > 0.35 else 0.0 for m in MECHANISMS}
    if style == BOOK_TO_ORDER:
        others = sum(w for m, w in raw.items() if m != "book_to_order")
        share = rng.uniform(0.6, 1.0)
        raw = {
            m: (share if m == "book_to_order" else (1 - share) * w / others if others else 0.0) for m, w in raw.items()
        }
    if sum(raw.values()) <= 0:
        raw[weighted(rng, prior)] = 1.0
    total = sum(raw.values())
    return {m: round(w / total, 3) for m, w in raw.items()}


def _hold_release(rng: random.Random, modes: dict[str, float]) -> dict[str, Any]:
    mode = weighted(rng, modes)
    cancel = {"cancel": rng.uniform(0.85, 1.0), "no_show": rng.uniform(0.0, 0.15)}.get(mode, rng.uniform(0.2, 0.8))
    return {
        "mode": mode,
        "cancel_share": round(cancel, 3),
        "day_before_share": round(rng.uniform(0.5, 0.9), 3),
        "lead_h": (2.0, round(rng.uniform(48.0, 72.0), 1)),
    }


def _scams(rng: random.Random, share: float) -> dict[str, float]:
    if rng.random() >= share:
        return {"double_sell_share": 0.0, "fake_sale_share": 0.0}
    double = round(rng.uniform(0.1, 0.5), 3) if rng.random() < 0.7 else 0.0
    fake = round(rng.uniform(0.05, 0.3), 3) if rng.random() < 0.5 or not double else 0.0
    return {"double_sell_share": double, "fake_sale_share": fake}


def draw_operation(
    rng: random.Random,
    draws: Draws,
    variants: Variants,
    *,
    style: str,
    size: int,
    has_fixed_openings: bool,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The structure (categorical draws) and traits (numbers) of one operation of ``size`` accounts."""
    structure: dict[str, Any] = {}
    traits: dict[str, Any] = {}
    family = "bot" if style in BOT_STYLES or style == FARM else "human"

    # --- pace and who watches
    if style in BOT_STYLES:
        watch = "bot"
    elif style == SCALPER_HUMAN:
        pace = weighted(rng, variants.human_pace or {"operator": 0.55, "paid_clickers": 0.45})
        structure["pace"] = pace
        watch = "operator" if pace == "operator" else "clickers"
    elif style == FARM:
        layout = weighted(rng, variants.farm_layout or {"concentrated": 0.65, "distributed": 0.35})
        targeting_prior = variants.farm_targeting or {"openings": 0.45, "watcher": 0.3, "spread": 0.25}
        if not has_fixed_openings:
            targeting_prior = {k: w for k, w in targeting_prior.items() if k != "openings"}
        targeting = weighted(rng, targeting_prior)
        structure.update(layout=layout, targeting=targeting)
        watch = {"openings": "openings", "spread": "spread"}.get(targeting, "watcher")
    else:
        watch = "watcher"
    if watch == "watcher":
        watch = (
            "script"
            if weighted(rng, variants.watcher_pace or {"script": 0.5, "human": 0.5}) == "script"
            else "operator"
        )

    # --- who searches and who books
    if watch in ("openings", "spread"):
        roles = "all_search"
    elif style == FARM:
        roles = "split" if rng.random() < 0.6 else "mixed"
    else:
        roles = weighted(rng, draws.structure_weights)
    if watch == "clickers" and roles != "all_search" and rng.random() < 0.5:
        watch = "script" if rng.random() < 0.5 else "operator"
        structure["clicker_bookers"] = True
    structure["watch"] = watch
    structure["search_roles"] = roles
    if roles == "all_search" and watch in ("operator", "clickers", "openings", "spread"):
        watchers = size
    elif watch in ("bot", "script"):
        watchers = min(size - 1, rng.randint(1, 3)) if size > 1 else 1
    else:
        watchers = min(size - 1, rng.randint(1, 2)) if size > 1 else 1
    idle = 0
    if size - watchers >= 3 and rng.random() < 0.6:
        idle = min(size - watchers - 1, round(size * rng.uniform(0.02, draws.idle_share_max)))
    structure.update(
        watchers=watchers,
        bookers=size - watchers - idle,
        idle_accounts=idle,
        watcher_books=roles == "all_search" or (roles == "mixed" and rng.random() < 0.5),
        booker_search_share={"all_search": 1.0, "split": 0.0}.get(roles, round(rng.uniform(0.2, 0.8), 3)),
    )

    # --- units: the people, phones or machines behind the accounts
    rotation = rng.random() < draws.rotation_share
    if watch == "clickers" or structure.get("clicker_bookers"):
        per = rng.randint(1, 3)
        units = max(1, math.ceil(size / per))
    elif watch == "operator":
        units = max(1, min(size, rng.randint(1, 3)))
        if roles != "all_search":
            units = max(2, units) if size >= 2 else 1
    elif style == BOT_MOBILE:
        units = max(rng.randint(2, 8), math.ceil(size / 3) if rotation else 1)
    elif style == BOOK_TO_ORDER:
        units = max(1, min(size, rng.randint(1, 4)))
    else:
        units = 1
    structure["units"] = units

    # --- infrastructure
    infra_prior = STYLE_INFRA[f"farm/{structure['layout']}" if style == FARM else style]
    watcher_infra = weighted(rng, infra_prior)
    booker_infra = watcher_infra
    if roles != "all_search" and style not in (BOT_RESIDENTIAL,) and rng.random() < 0.35:
        excluded = (watcher_infra, "cyber_cafe" if structure.get("layout") == "distributed" else "")
        booker_infra = weighted(rng, {k: w for k, w in BOOKER_INFRA.items() if k not in excluded})
    structure["infrastructure"] = {"watchers": watcher_infra, "bookers": booker_infra}
    structure["rotation"] = rotation

    # --- accounts: creation, e-mail, phones
    if style == FARM:
        share = draws.farm_created_in_period_share
        creation_prior = {"burst": share * 0.8, "mixed": share * 0.2, "long_before": 1 - share}
    else:
        creation_prior = _CREATION.get(style, _CREATION[family])
    pattern = weighted(rng, creation_prior)
    structure["creation"] = {
        "pattern": pattern,
        "bursts": rng.randint(1, 3),
        "burst_minutes": round(rng.uniform(3, 40), 1),
        "pre_existing_share": round(rng.uniform(0.3, 0.8), 3) if pattern == "mixed" else None,
    }
    structure["email"] = weighted(rng, _EMAIL[family])
    structure["phones"] = weighted(rng, _PHONES)

    # --- resale
    structure["handoff_mix"] = _handoff_mix(rng, draws.handoff_prior, style)
    structure["hold_release"] = _hold_release(rng, draws.hold_release_modes)
    structure["scams"] = _scams(rng, draws.scam_operation_share)
    structure["seller_device"] = weighted(rng, _SELLER_DEVICE)
    structure["seller_searches_share"] = round(rng.uniform(0.3, 1.0), 3)
    structure["placeholders"] = "pool" if rng.random() < draws.placeholder_pool_share else "fresh"

    # --- timings and sizes
    holds_mean = sum(draws.holds_per_account) / 2
    human_gap = draws.handoff_gap_s["human"]
    traits.update(
        resale_min_age_h=round(rng.uniform(*draws.resale_min_age_hours), 2),
        login_failure_rate=round(rng.uniform(*draws.bot_login_failure_rate), 3) if family == "bot" else 0.03,
        handoff_gap_s=draws.handoff_gap_s["bot"] if watch in ("bot", "openings") else human_gap,
        book_delay_s=draws.bot_book_delay_s,
    )
    if watch == "bot":
        low, high = draws.poll_period_s[style]
        traits.update(
            poll_period_s=round(_log_uniform(rng, low, high), 3),
            timing="regular" if rng.random() < 0.5 else "jittered",
            jitter_ms=round(rng.uniform(3, 40), 1),
            jitter_sigma=round(rng.uniform(0.15, 0.5), 3),
            duty_cycle=round(rng.uniform(*draws.bot_duty_cycle), 3),
            shift_minutes=(rng.randint(10, 40), rng.randint(60, 240)),
            hours="always",
            lanes=min(watchers, units, 2) if style == BOT_MOBILE else 1,
        )
    elif watch == "script":
        traits.update(
            poll_period_s=round(_log_uniform(rng, *draws.script_poll_period_s), 3),
            timing="regular" if rng.random() < 0.4 else "jittered",
            jitter_ms=round(rng.uniform(5, 80), 1),
            jitter_sigma=round(rng.uniform(0.2, 0.6), 3),
            duty_cycle=round(rng.uniform(0.3, 0.7), 3),
            shift_minutes=(rng.randint(20, 60), rng.randint(90, 300)),
            hours="day" if rng.random() < 0.6 else "always",
            lanes=1,
        )
    if watch in ("operator", "clickers") or structure.get("clicker_bookers"):
        traits.update(
            interval_s=round(rng.uniform(20, 90) if watch == "operator" else rng.uniform(40, 240), 1),
            reaction_s=draws.human_scalper_reaction_s,
            session_minutes=(rng.randint(8, 15), rng.randint(25, 50)),
            sessions_per_day=(1, rng.randint(2, 4)),
        )
    human_bookers = style in (SCALPER_HUMAN, BOOK_TO_ORDER) or (style == FARM and structure["layout"] == "distributed")
    if watch == "bot" and not (roles != "all_search" and booker_infra in ("home", "cyber_cafe")):
        traits["relay_s"] = draws.bot_book_delay_s
    elif watch in ("bot", "script") and not human_bookers:
        traits["relay_s"] = (round(rng.uniform(0.4, 1.0), 2), round(rng.uniform(2.0, 6.0), 2))
    else:
        traits["relay_s"] = (round(rng.uniform(5.0, 15.0), 1), round(rng.uniform(40.0, 150.0), 1))
    if style == FARM:
        traits.update(
            devices=rng.randint(*draws.farm_devices),
            burst_minutes=structure["creation"]["burst_minutes"],
            inventory_cap=max(2, round(size * 1.5)),
            visits=(1, rng.randint(2, 4)),
        )
    elif style == BOOK_TO_ORDER:
        traits["inventory_cap"] = round(size * rng.uniform(0.0, 1.5))
    elif watch == "clickers" or structure.get("clicker_bookers"):
        traits["inventory_cap"] = max(2, round(size * rng.uniform(1.0, 2.0)))
    elif style == SCALPER_HUMAN:
        traits["inventory_cap"] = max(2, round(size * holds_mean * rng.uniform(0.4, 1.0)))
    else:
        traits["inventory_cap"] = max(2, round(size * holds_mean * rng.uniform(0.5, 1.2)))
    if watcher_infra == "datacenter" or booker_infra == "datacenter":
        bot_like = style in BOT_STYLES or style == FARM
        traits.update(
            user_agent=rng.choice(("bot", "bot", "copied")) if bot_like else "copied",
            device_id=rng.choice(("missing", "constant", "per_account")) if bot_like else "per_account",
            datacenter_asns=rng.sample(sorted(DATACENTER), rng.randint(1, 2)),
        )
    if "residential_proxy" in (watcher_infra, booker_infra):
        traits.update(
            fingerprint=rng.choice(("stable", "rotating")) if style == BOT_RESIDENTIAL else "stable",
            mobile_proxy_share=round(rng.uniform(0.0, 0.3), 3),
            proxy_rotation="per_request" if style == BOT_RESIDENTIAL or rng.random() < 0.3 else "per_session",
        )
    return structure, traits
