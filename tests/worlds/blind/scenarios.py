"""Scenario recipes: which behaviours a world contains, with every structural choice drawn from the seed."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from .engine import SitePolicy
from .ids import Mint, weighted
from .ops import HANDOFFS, STYLES, OpPlan

SCENARIOS: dict[str, str] = {
    "mixed": "data-centre bots, residential-proxy bots, slow human-paced operations and a distributed farm "
    "among a normal legitimate population (~1,100 accounts, 5 days)",
    "farms": "the hardest mix: slow human-paced operations, two or more distributed farms and residential "
    "proxies (~1,300 accounts, 6 days)",
    "mobile": "phones behind carrier NAT, book-to-order, proxies, a distributed farm, maybe a reselling "
    "cyber-café; many mobile and public-PC users; random release hours (~1,200 accounts, 5 days)",
    "quiet": "no scalping and no buyers: public PCs, associations, families, anxious applicants, mobile users "
    "(~1,000 accounts, 5 days)",
    "random": "every structural choice drawn from the seed: styles, number of operations, shares, sites, "
    "release schedules",
    "custom": "small test world, e.g. custom:ops=datacenter_bot+book_to_order;legit=cybercafe_user+association"
    "[;sites=N][;release=KIND]: only the named styles and roles plus a few ordinary accounts "
    "(~150 accounts, 2 days)",
}

LEGIT_ROLES = (
    "ordinary",
    "anxious",
    "family",
    "association",
    "lawyer",
    "cybercafe_user",
    "mobile_user",
    "intermediary_customer",
    "buyer",
)
RELEASE_KINDS = ("fixed_weekly", "fixed_daily", "random_times", "trickle")
SITE_NAMES = {
    "93-bobigny": 3.0,
    "75-paris": 2.5,
    "92-nanterre": 1.6,
    "94-creteil": 1.5,
    "95-cergy": 1.2,
    "34-montpellier": 1.0,
    "13-marseille": 1.4,
    "69-lyon": 1.3,
    "31-toulouse": 0.9,
    "59-lille": 1.0,
    "91-evry": 1.0,
    "78-versailles": 0.8,
    "67-strasbourg": 0.7,
    "33-bordeaux": 0.8,
}
SERVICES = {
    "titre-sejour": 5.0,
    "renouvellement": 3.0,
    "naturalisation": 1.5,
    "remise-titre": 2.0,
    "changement-statut": 1.0,
    "duplicata": 0.6,
}
BASE_LEGIT = {
    "ordinary": 0.52,
    "anxious": 0.07,
    "family": 0.07,
    "association": 0.025,
    "lawyer": 0.01,
    "cybercafe_user": 0.07,
    "mobile_user": 0.14,
    "intermediary_customer": 0.03,
}
STYLE_WEIGHT = {
    "datacenter_bot": 1.0,
    "residential_proxy_bot": 1.2,
    "mobile_phones": 0.6,
    "slow_human": 1.0,
    "distributed_farm": 3.2,
    "book_to_order": 0.35,
    "cybercafe_reseller": 0.35,
}
STYLE_MIN = {
    "datacenter_bot": 5,
    "residential_proxy_bot": 5,
    "mobile_phones": 4,
    "slow_human": 4,
    "distributed_farm": 16,
    "book_to_order": 3,
    "cybercafe_reseller": 3,
}


class ScenarioError(ValueError):
    """An unknown scenario name or a malformed ``custom:`` spec."""


@dataclass
class SiteSpec:
    """One prefecture site of the world."""

    name: str
    demand: float
    services: dict[str, float]
    release: str
    release_detail: dict[str, Any]
    policy: SitePolicy
    p_short: float
    grid_min: int


@dataclass
class WorldSpec:
    """Everything drawn before the simulation starts."""

    scenario: str
    seed: int
    start: dt.date
    days: int
    accounts: int
    sites: list[SiteSpec]
    legit: dict[str, int]
    styles: list[tuple[str, str]]
    scalper_accounts: int
    p_willing: float
    supply_ratio: float
    buyers_enabled: bool
    late_p: float
    custom: bool = False
    params: dict[str, Any] = field(default_factory=dict)


def _policy(rng: random.Random) -> SitePolicy:
    """How completely one front end reports the optional fields."""
    return SitePolicy(
        p_ip=rng.uniform(0.93, 1.0),
        asn_coverage=rng.uniform(0.85, 0.995) if rng.random() < 0.7 else rng.uniform(0.3, 0.7),
        p_ua=rng.uniform(0.95, 1.0),
        p_device_session=rng.uniform(0.75, 0.98),
        p_device_event=rng.uniform(0.97, 1.0),
        p_session_id=rng.uniform(0.9, 1.0),
        p_email_domain=rng.choice((0.0, 1.0, 1.0, rng.uniform(0.4, 0.9))),
        result_cap=rng.choice((None, None, 10, 20, 30, 50)),
    )


def _release(rng: random.Random, kind: str) -> dict[str, Any]:
    """Parameters of a release schedule kind (the weekday/time of fixed releases, how many random batches)."""
    if kind == "fixed_weekly":
        moments = [
            (rng.choice((0, 0, 1, 2, 3, 4, 6, 6)), rng.choice((8 * 60, 9 * 60, 10 * 60, 14 * 60, 20 * 60, 0, 12 * 60)))
            for _ in range(rng.choice((1, 1, 2)))
        ]
        return {"moments": moments, "trickle_share": rng.uniform(0.0, 0.25)}
    if kind == "fixed_daily":
        return {
            "minute": rng.choice((0, 8 * 60, 8 * 60 + 30, 9 * 60, 12 * 60, 14 * 60, 18 * 60)),
            "weekdays": rng.choice(((0, 1, 2, 3, 4), (0, 1, 2, 3, 4, 5), (0, 1, 2, 3, 4, 5, 6))),
            "trickle_share": rng.uniform(0.0, 0.2),
        }
    if kind == "random_times":
        return {"per_week": rng.randint(3, 14), "night_ok": rng.random() < 0.5, "trickle_share": rng.uniform(0.0, 0.3)}
    return {"batch_sizes": "1-6 slots"}


def _sites(rng: random.Random, n: int, kinds: dict[str, float]) -> list[SiteSpec]:
    names = list(SITE_NAMES)
    chosen: list[str] = []
    while len(chosen) < n:
        name = weighted(rng, {k: SITE_NAMES[k] for k in names if k not in chosen})
        chosen.append(name)
    out = []
    for name in chosen:
        k = rng.randint(2, 4)
        services: dict[str, float] = {}
        while len(services) < k:
            s = weighted(rng, {x: w for x, w in SERVICES.items() if x not in services})
            services[s] = SERVICES[s] * rng.uniform(0.5, 1.5)
        kind = weighted(rng, kinds)
        out.append(
            SiteSpec(
                name,
                SITE_NAMES[name] * rng.uniform(0.6, 1.4),
                services,
                kind,
                _release(rng, kind),
                _policy(rng),
                rng.uniform(0.15, 0.45),
                rng.choice((10, 15, 15, 20, 30)),
            )
        )
    return out


def _legit_counts(rng: random.Random, total: int, weights: dict[str, float]) -> dict[str, int]:
    drawn = {k: w * rng.uniform(0.6, 1.5) for k, w in weights.items() if w > 0}
    norm = sum(drawn.values())
    counts = {k: round(total * w / norm) for k, w in drawn.items()}
    counts["ordinary"] = counts.get("ordinary", 0) + total - sum(counts.values())
    return {k: v for k, v in counts.items() if v > 0}


def parse_custom(spec: str) -> dict[str, Any]:
    """Parse ``custom:ops=a+b;legit=c+d;sites=N;release=KIND`` (every key optional)."""
    body = spec.split(":", 1)[1] if ":" in spec else ""
    out: dict[str, Any] = {"ops": [], "legit": [], "sites": 1, "release": None}
    for part in filter(None, (p.strip() for p in body.split(";"))):
        if "=" not in part:
            raise ScenarioError(f"custom spec part without '=': {part!r}")
        key, value = (x.strip() for x in part.split("=", 1))
        items = [v for v in value.split("+") if v and v != "none"]
        if key == "ops":
            bad = [v for v in items if v not in STYLES]
            if bad:
                raise ScenarioError(f"unknown operation style(s) {bad}; known: {', '.join(STYLES)}")
            out["ops"] = items
        elif key == "legit":
            bad = [v for v in items if v not in LEGIT_ROLES]
            if bad:
                raise ScenarioError(f"unknown legitimate role(s) {bad}; known: {', '.join(LEGIT_ROLES)}")
            out["legit"] = items
        elif key == "sites":
            out["sites"] = max(1, min(3, int(value)))
        elif key == "release":
            if value not in RELEASE_KINDS:
                raise ScenarioError(f"unknown release kind {value!r}; known: {', '.join(RELEASE_KINDS)}")
            out["release"] = value
        else:
            raise ScenarioError(f"unknown custom key {key!r} (ops, legit, sites, release)")
    return out


def plan_world(seed: int, scenario: str, accounts: int | None, days: int | None) -> WorldSpec:
    """Draw the structure of a world for ``scenario``."""
    from .ids import derive

    name = scenario.split(":", 1)[0]
    if name not in SCENARIOS:
        raise ScenarioError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)} (custom:...)")
    rng = derive(seed, "plan", scenario)
    any_kind = {"fixed_weekly": 0.3, "fixed_daily": 0.25, "random_times": 0.3, "trickle": 0.15}
    legit_w = dict(BASE_LEGIT)
    styles: list[str] = []
    custom = False
    buyers = True
    if name == "mixed":
        n_acc, n_days, kinds, share = 1100, 5, any_kind, rng.uniform(0.12, 0.2)
        styles = ["datacenter_bot"] * rng.randint(1, 2) + ["residential_proxy_bot"] * rng.randint(1, 2)
        styles += ["slow_human"] * rng.choice((1, 1, 2)) + ["distributed_farm"]
        for extra, p in (("book_to_order", 0.3), ("mobile_phones", 0.2)):
            if rng.random() < p:
                styles.append(extra)
        n_sites = rng.choice((1, 2, 2, 3))
    elif name == "farms":
        n_acc, n_days, kinds, share = 1300, 6, any_kind, rng.uniform(0.22, 0.32)
        styles = ["slow_human"] * rng.randint(1, 2) + ["distributed_farm"] * rng.randint(2, 3)
        styles += ["residential_proxy_bot"] * rng.randint(1, 2)
        if rng.random() < 0.3:
            styles.append("mobile_phones")
        n_sites = rng.choice((1, 2, 2, 3))
    elif name == "mobile":
        n_acc, n_days, kinds, share = 1200, 5, {"random_times": 1.0}, rng.uniform(0.12, 0.2)
        styles = ["mobile_phones"] * rng.randint(1, 2) + ["book_to_order", "residential_proxy_bot", "distributed_farm"]
        if rng.random() < 0.4:
            styles.append("datacenter_bot")
        if rng.random() < 0.5:
            styles.append("cybercafe_reseller")
        legit_w.update({"mobile_user": 0.3, "cybercafe_user": 0.13, "ordinary": 0.38})
        n_sites = rng.choice((1, 2, 2, 3))
    elif name == "quiet":
        n_acc, n_days, kinds, share = 1000, 5, any_kind, 0.0
        legit_w.update(
            {
                "cybercafe_user": 0.12,
                "association": 0.045,
                "family": 0.1,
                "anxious": 0.1,
                "mobile_user": 0.18,
                "ordinary": 0.4,
            }
        )
        buyers = False
        n_sites = rng.choice((1, 2, 2, 3))
    elif name == "random":
        n_acc, n_days = rng.randint(500, 1500), rng.randint(3, 7)
        kinds = {k: rng.random() for k in RELEASE_KINDS}
        styles = [rng.choice(STYLES) for _ in range(rng.choice((0, 1, 2, 3, 3, 4, 4, 5, 6)))]
        share = rng.uniform(0.05, 0.3) if styles else 0.0
        legit_w = {k: w * rng.uniform(0.0, 2.5) ** 1.5 for k, w in BASE_LEGIT.items()}
        legit_w["ordinary"] = max(legit_w["ordinary"], 0.2)
        buyers = bool(styles) and rng.random() < 0.9
        n_sites = rng.choice((1, 2, 3))
    else:
        custom = True
        spec = parse_custom(scenario)
        n_acc, n_days = 150, 2
        kinds = {spec["release"]: 1.0} if spec["release"] else any_kind
        styles = list(spec["ops"])
        named = [r for r in spec["legit"] if r != "buyer"]
        buyers = "buyer" in spec["legit"] and bool(styles)
        share = 0.3 if styles else 0.0
        legit_w = {r: 1.0 for r in named}
        legit_w["ordinary"] = 0.08 if "ordinary" not in named else 1.0
        if buyers:
            legit_w["buyer"] = 0.6
        n_sites = spec["sites"]
    total = accounts if accounts is not None else n_acc
    n_days = days if days is not None else n_days
    if total < 20 or n_days < 1:
        raise ScenarioError("a world needs at least 20 accounts and 1 day")
    sites = _sites(rng, n_sites, kinds)
    scalpers = round(total * share) if styles else 0
    scalpers = max(scalpers, sum(STYLE_MIN[s] for s in styles)) if styles else 0
    legit = _legit_counts(rng, max(total - scalpers, 10), legit_w)
    start = dt.date(2025, 1, 6) + dt.timedelta(days=rng.randint(0, 700))
    crowd = {s.name: 0 for s in sites}
    placed = []
    for style in styles:
        site_name = weighted(rng, {s.name: s.demand / (1 + crowd[s.name]) for s in sites})
        crowd[site_name] += 1
        placed.append((style, site_name))
    return WorldSpec(
        scenario=scenario,
        seed=seed,
        start=start,
        days=n_days,
        accounts=total,
        sites=sites,
        legit=legit,
        styles=placed,
        scalper_accounts=scalpers,
        p_willing=(rng.uniform(0.15, 0.4) if buyers else 0.0),
        supply_ratio=rng.uniform(0.12, 0.3) * (1.8 if custom else 1.0),
        buyers_enabled=buyers,
        late_p=rng.uniform(0.0002, 0.002),
        custom=custom,
    )


def _mix(rng: random.Random, options: tuple[str, ...], k_max: int) -> dict[str, float]:
    k = rng.randint(1, min(k_max, len(options)))
    return {o: round(rng.uniform(0.2, 1.0), 3) for o in rng.sample(list(options), k)}


def draw_op(
    rng: random.Random,
    mint: Mint,
    style: str,
    site: SiteSpec,
    n_accounts: int,
    buyers: bool,
    known_releases: bool,
    place: str | None,
) -> OpPlan:
    """Draw one operation's structure and parameters for its style."""
    services = sorted(site.services, key=lambda s: -site.services[s])
    targets = services[: rng.randint(1, min(3, len(services)))]
    focus = known_releases and rng.random() < 0.6
    handoffs = _mix(rng, HANDOFFS, 3) if buyers else {"change_applicant": 1.0}
    emails = {"disposable": rng.uniform(0, 1), "fresh": rng.uniform(0, 1), "webmail": rng.uniform(0, 1.5)}
    common: dict[str, Any] = {
        "op_id": "op-" + mint.hex(6),
        "style": style,
        "site": site.name,
        "services": targets,
        "n_accounts": n_accounts,
        "split": rng.random() < 0.5,
        "n_watchers": rng.randint(1, 3),
        "idle_share": rng.uniform(0.0, 0.25),
        "poll_s": rng.uniform(2, 12),
        "timing": weighted(rng, {"machine": 0.4, "jitter": 0.4, "poisson": 0.2}),
        "focus": focus,
        "bg_factor": rng.uniform(2, 12),
        "latency_ms": (rng.randint(150, 600), rng.randint(800, 3500)),
        "capacity": 0,
        "per_account": rng.randint(1, 4),
        "lifetime": 1 << 30,
        "placeholder": weighted(rng, {"invented": 0.5, "borrowed": 0.25, "mixed": 0.25}),
        "handoffs": handoffs,
        "p_sell": rng.uniform(0.3, 0.85),
        "sale_delay_h": rng.uniform(2, 36),
        "p_multi": 0.0 if rng.random() < 0.6 else rng.uniform(0.05, 0.3),
        "p_cancel_unsold": rng.uniform(0.1, 0.95),
        "cancel_lead_h": rng.choice(((12.0, 60.0), (24.0, 72.0), (2.0, 30.0), (36.0, 120.0), (6.0, 48.0))),
        "emails": emails,
        "phones": rng.choice(("none", "shared", "unique", "some")),
        "new_share": rng.uniform(0.1, 0.9),
        "bursts": rng.randint(1, 4),
        "spread": rng.randint(1, 4),
    }
    infra: dict[str, Any] = {
        "borrowed_pool": rng.randint(2, 12),
        "burst": rng.randint(5, 40),
        "max_rate": rng.uniform(0.06, 0.25),
        "p_offline": rng.uniform(0.1, 0.6) if buyers else 1.0,
    }
    if style == "datacenter_bot":
        infra.update(
            servers=rng.randint(1, 3),
            vpn=rng.random() < 0.3,
            devices=weighted(
                rng, {"script": 0.2, "headless": 0.15, "spoofed": 0.25, "per_account": 0.25, "rotating": 0.15}
            ),
        )
        common["emails"] = {
            "disposable": rng.uniform(0.3, 1),
            "fresh": rng.uniform(0, 1),
            "webmail": rng.uniform(0, 0.5),
        }
    elif style == "residential_proxy_bot":
        common.update(
            poll_s=rng.uniform(3, 20),
            n_watchers=rng.randint(1, 4),
            timing=weighted(rng, {"jitter": 0.5, "poisson": 0.4, "machine": 0.1}),
            latency_ms=(rng.randint(300, 900), rng.randint(1500, 5000)),
        )
        infra.update(controllers=rng.randint(1, 2), mobile_ua=rng.uniform(0, 0.5))
    elif style == "mobile_phones":
        common.update(
            split=rng.random() < 0.3,
            poll_s=rng.uniform(2, 15),
            timing=weighted(rng, {"jitter": 0.6, "machine": 0.4}),
            latency_ms=(rng.randint(400, 1200), rng.randint(1500, 6000)),
            emails={"webmail": 1.0, "disposable": rng.uniform(0, 0.3)},
            phones=rng.choice(("unique", "shared", "some")),
        )
        infra.update(
            phones=rng.randint(2, 6), hours=rng.choice(("always", "daytime")), rotate_min=(15, 120), book_local=True
        )
    elif style == "slow_human":
        common.update(
            split=rng.random() < 0.35,
            poll_s=rng.uniform(25, 150),
            timing="human",
            per_account=rng.randint(1, 3),
            n_watchers=rng.randint(1, 2),
            focus=False,
            emails={"webmail": 1.0, "fresh": rng.uniform(0, 0.4), "disposable": rng.uniform(0, 0.3)},
        )
        infra.update(
            workers=max(2, min(12, round(n_accounts / rng.uniform(2.5, 8)))),
            where=weighted(rng, {"home": 0.5, "room": 0.3, "vpn": 0.2}),
            book_local=not common["split"],
            rotate_min=(10, 60),
        )
    elif style == "distributed_farm":
        hub = rng.random() < 0.55
        common.update(
            split=hub,
            n_watchers=rng.randint(1, 4),
            per_account=1,
            lifetime=rng.choice((1, 1, 2)),
            poll_s=rng.uniform(2, 10) if hub else rng.uniform(120, 900),
            timing=weighted(rng, {"jitter": 0.6, "poisson": 0.4}),
            latency_ms=(rng.randint(300, 1500), rng.randint(2000, 8000)),
            emails={"webmail": 1.0, "fresh": rng.uniform(0, 0.3)},
            phones=rng.choice(("unique", "some")),
            new_share=rng.uniform(0.5, 1.0),
            bursts=rng.randint(2, 6),
            idle_share=rng.uniform(0, 0.15),
        )
        infra.update(mode="hub" if hub else "swarm", mobile_share=rng.uniform(0.0, 0.6), rotate_min=(1, 1))
    elif style == "book_to_order":
        human = rng.random() < 0.2
        common.update(
            split=False,
            poll_s=rng.uniform(20, 90) if human else rng.uniform(2, 10),
            timing="human" if human else "jitter",
            handoffs={},
            p_sell=0.0,
            per_account=rng.randint(2, 6),
            idle_share=rng.uniform(0, 0.1),
        )
        infra.update(orders_per_day=rng.uniform(1.0, 6.0), speculative=0 if rng.random() < 0.6 else rng.randint(2, 6))
    elif style == "cybercafe_reseller":
        human = rng.random() < 0.4
        common.update(
            split=rng.random() < 0.4,
            poll_s=rng.uniform(20, 60) if human else rng.uniform(5, 40),
            timing="human" if human else "jitter",
            n_watchers=1,
        )
        if buyers:
            common["handoffs"] = {
                "cancel_rebook_seller": rng.uniform(0.5, 1.0),
                "change_applicant": rng.uniform(0, 1),
                "cancel_rebook_buyer": rng.uniform(0, 0.5),
            }
        infra.update(place=place)
    return OpPlan(infra=infra, **common)
