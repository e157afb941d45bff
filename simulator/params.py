"""What a world is built from: the user's parameters, and the per-world random draws made from the seed.

``WorldParams`` is what the caller chooses. ``Draws`` is everything the seed decides once per world
(schedules aside, which live in ``supply``): behaviour ranges that individual accounts and
operations then draw from. Recording these in world.json lets a data scientist see exactly which
world a model was trained on, and keeps detectors from overfitting one set of magic numbers.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Final

from simulator.roles import (
    BOOK_TO_ORDER,
    BOT_DATACENTER,
    BOT_MOBILE,
    BOT_RESIDENTIAL,
    FARM,
    SCALPER_HUMAN,
    Variants,
    parse_mix,
    preset_variants,
)

logger = logging.getLogger(__name__)

SITES: Final = (
    "93-bobigny",
    "92-nanterre",
    "75-paris-cite",
    "94-creteil",
    "95-cergy",
    "91-evry",
    "69-lyon",
    "13-marseille",
)
SERVICES: Final = (
    "titre-sejour-premiere-demande",
    "titre-sejour-renouvellement",
    "naturalisation",
    "remise-titre",
)
DEFAULT_START: Final = date(2026, 3, 2)
#: kinds of venues with public PCs
PUBLIC_PC_KINDS: Final = ("cyber_cafe", "library", "social_centre")


@dataclass(frozen=True)
class WorldParams:
    """The caller's choices; everything else is drawn from ``seed``."""

    seed: int
    accounts: int = 2000
    days: int = 5
    mix: str = "default"
    sites: int = 3
    start: date = DEFAULT_START

    def __post_init__(self) -> None:
        if self.accounts < 1:
            raise ValueError("accounts must be >= 1")
        if not 1 <= self.days <= 366:
            raise ValueError("days must be between 1 and 366")
        if not 1 <= self.sites <= len(SITES):
            raise ValueError(f"sites must be between 1 and {len(SITES)}")
        parse_mix(self.mix, self.seed)

    @property
    def shares(self) -> dict[str, float]:
        """The mix as normalised role shares (``random`` is drawn from the seed)."""
        return parse_mix(self.mix, self.seed)

    @property
    def variants(self) -> Variants:
        """The structural biases of the mix preset."""
        return preset_variants(self.mix, self.seed)


def _span(rng: random.Random, low: tuple[float, float], high: tuple[float, float]) -> tuple[float, float]:
    """A per-world range: its lower edge drawn from ``low``, its upper edge from ``high``."""
    return (round(rng.uniform(*low), 3), round(rng.uniform(*high), 3))


@dataclass(frozen=True)
class Draws:
    """Per-world behaviour ranges (all drawn from the seed; individual agents draw inside them)."""

    # supply
    slots_per_account_day: float
    min_notice_hours: int
    lead_days: tuple[int, int]
    background_cancellation_share: float
    #: prior weights of the opening schedule kinds (weekdays, weekly, midnight, random)
    schedule_weights: tuple[float, float, float, float]
    #: probability that a site releases every service at random hours
    all_random_site_share: float
    # humans in general
    reaction_s_median: tuple[float, float]
    legit_cancel_rate: float
    attend_rate: float
    new_account_share: float
    searching_at_start_share: float
    campaign_days: tuple[float, float]
    visits_per_day: tuple[float, float]
    mobile_session_share: float
    # anxious
    manual_interval_s: tuple[float, float]
    manual_session_hours: tuple[float, float]
    manual_sessions_per_day: float
    night_session_share: float
    autorefresh_periods_s: tuple[int, ...]
    autorefresh_period_weights: tuple[float, ...]
    autorefresh_jitter_ms: tuple[float, float]
    #: (median, maximum) hours of an auto-refresh session (lognormal, so some run all night)
    autorefresh_session_hours: tuple[float, float]
    autorefresh_sessions_per_day: float
    #: share of auto-refreshing applicants with several tabs open (0: none in this world), and how many
    autorefresh_tab_share: float
    autorefresh_tabs: tuple[int, int]
    # families
    #: share of family accounts living in a household that shares one PC between relatives' accounts
    family_shared_pc_share: float
    family_household_size: tuple[int, int]
    # associations
    association_staff: tuple[int, int]
    association_vpn_share: float
    association_attend_rate: float
    association_rebook_rate: float
    association_modify_rate: float
    association_interval_s: tuple[float, float]
    association_clients_per_day: tuple[float, float]
    # lawyers
    lawyer_staff: tuple[int, int]
    lawyer_clients_per_day: tuple[float, float]
    lawyer_attend_rate: float
    # public PCs (cyber-cafés, libraries, social centres)
    public_pc_kinds: tuple[str, ...]
    public_pc_accounts_per_pc: tuple[int, int]
    public_pc_pcs_per_venue: tuple[int, int]
    public_pc_visits_per_week: tuple[float, float]
    public_pc_new_account_share: float
    public_pc_own_phone_share: float
    public_pc_attend_rate: float
    # legal intermediaries booking with their customers' accounts
    intermediary_staff: tuple[int, int]
    intermediary_customers: tuple[int, int]
    intermediary_created_share: float
    intermediary_self_login_share: float
    intermediary_attend_rate: float
    intermediary_vpn_share: float
    # mobile networks
    cgnat_pool_size: tuple[int, int]
    mobile_ipv6_share: float
    # buyers
    buyer_patience_days: tuple[float, float]
    buyer_attend_rate: float
    # scalping operations
    op_size: dict[str, tuple[int, int]] = field(default_factory=dict)
    poll_period_s: dict[str, tuple[float, float]] = field(default_factory=dict)
    bot_duty_cycle: tuple[float, float] = (0.5, 0.9)
    bot_book_delay_s: tuple[float, float] = (0.3, 2.0)
    bot_login_failure_rate: tuple[float, float] = (0.02, 0.1)
    human_scalper_reaction_s: tuple[float, float] = (5.0, 60.0)
    handoff_gap_s: dict[str, tuple[float, float]] = field(default_factory=dict)
    resale_min_age_hours: tuple[float, float] = (1.0, 12.0)
    holds_per_account: tuple[int, int] = (3, 10)
    farm_devices: tuple[int, int] = (2, 8)
    farm_created_in_period_share: float = 0.8
    placeholder_pool_share: float = 0.5
    # priors of the per-operation structure (each operation draws its own inside them)
    #: who searches and who books: every active account, split (watchers vs bookers), or mixed
    structure_weights: dict[str, float] = field(default_factory=dict)
    #: delivery mechanisms: buyer-device rebook, seller-operated rebook, applicant change, book-to-order
    handoff_prior: dict[str, float] = field(default_factory=dict)
    #: how unsold holds end: mostly cancelled shortly before the day, mostly no-shows, or a mix
    hold_release_modes: dict[str, float] = field(default_factory=dict)
    #: share of operations that scam their buyers (double sales, slots that do not exist)
    scam_operation_share: float = 0.2
    #: share of operations that rotate identifiers to stay under per-IP/e-mail/phone limits
    rotation_share: float = 0.3
    #: upper bound of the share of an operation's accounts kept idle (signed up, rarely used)
    idle_share_max: float = 0.2
    #: poll period of the scripts that watch for non-bot operations (s)
    script_poll_period_s: tuple[float, float] = (10.0, 40.0)


def draw_world(rng: random.Random, variants: Variants | None = None) -> Draws:
    """Draw one world's behaviour ranges (the documented realistic envelopes), then apply a preset's biases."""
    draws = _draw(rng)
    if variants is None:
        return draws
    if variants.shared_devices:
        draws = replace(
            draws,
            family_shared_pc_share=max(draws.family_shared_pc_share, 0.3),
            autorefresh_tab_share=max(draws.autorefresh_tab_share, 0.2),
        )
    if variants.random_schedule_share is not None:
        fixed = draws.schedule_weights[:3]
        share = variants.random_schedule_share
        scale = (1 - share) / sum(fixed)
        weights = (round(fixed[0] * scale, 3), round(fixed[1] * scale, 3), round(fixed[2] * scale, 3), share)
        draws = replace(draws, schedule_weights=weights, all_random_site_share=max(draws.all_random_site_share, 0.3))
    return draws


def _draw(rng: random.Random) -> Draws:
    periods = (5, 10, 15, 30, 60)
    base = (0.4, 0.8, 1.0, 1.6, 2.0)
    weights = tuple(round(w * rng.uniform(0.5, 1.5), 3) for w in base)
    return Draws(
        slots_per_account_day=round(rng.uniform(0.012, 0.035), 4),
        min_notice_hours=rng.choice((1, 2, 12, 24)),
        lead_days=(rng.randint(2, 6), rng.randint(10, 28)),
        background_cancellation_share=round(rng.uniform(0.03, 0.12), 3),
        schedule_weights=(
            round(0.4 * rng.uniform(0.6, 1.4), 3),
            round(0.2 * rng.uniform(0.5, 1.5), 3),
            round(0.15 * rng.uniform(0.5, 1.5), 3),
            round(0.25 * rng.uniform(0.4, 1.8), 3),
        ),
        all_random_site_share=round(rng.uniform(0.0, 0.3), 3),
        reaction_s_median=_span(rng, (5, 12), (25, 60)),
        legit_cancel_rate=round(rng.uniform(0.02, 0.08), 3),
        attend_rate=round(rng.uniform(0.86, 0.95), 3),
        new_account_share=round(rng.uniform(0.1, 0.3), 3),
        searching_at_start_share=round(rng.uniform(0.35, 0.65), 3),
        campaign_days=_span(rng, (1.0, 3.0), (6.0, 20.0)),
        visits_per_day=_span(rng, (0.3, 0.7), (1.2, 2.5)),
        mobile_session_share=round(rng.uniform(0.1, 0.35), 3),
        manual_interval_s=_span(rng, (15, 30), (120, 200)),
        manual_session_hours=_span(rng, (0.3, 0.8), (1.5, 4.0)),
        manual_sessions_per_day=round(rng.uniform(0.12, 0.35), 3),
        night_session_share=round(rng.uniform(0.1, 0.35), 3),
        autorefresh_periods_s=periods,
        autorefresh_period_weights=weights,
        autorefresh_jitter_ms=_span(rng, (8, 20), (40, 90)),
        autorefresh_session_hours=(round(rng.uniform(0.7, 2.0), 2), round(rng.uniform(14.0, 19.0), 2)),
        autorefresh_sessions_per_day=round(rng.uniform(0.03, 0.12), 3),
        autorefresh_tab_share=0.0 if rng.random() < 0.35 else round(rng.uniform(0.1, 0.35), 3),
        autorefresh_tabs=(2, rng.randint(3, 4)),
        family_shared_pc_share=0.0 if rng.random() < 0.35 else round(rng.uniform(0.15, 0.5), 3),
        family_household_size=(2, rng.randint(3, 4)),
        association_staff=(1, rng.randint(3, 5)),
        association_vpn_share=round(rng.uniform(0.05, 0.15), 3),
        association_attend_rate=round(rng.uniform(0.9, 0.98), 3),
        association_rebook_rate=round(rng.uniform(0.03, 0.1), 3),
        association_modify_rate=round(rng.uniform(0.01, 0.04), 3),
        association_interval_s=_span(rng, (40, 90), (180, 400)),
        association_clients_per_day=_span(rng, (0.5, 1.5), (2.5, 5.0)),
        lawyer_staff=(1, rng.randint(2, 3)),
        lawyer_clients_per_day=_span(rng, (0.3, 0.8), (1.5, 3.0)),
        lawyer_attend_rate=round(rng.uniform(0.93, 0.99), 3),
        public_pc_kinds=tuple(k for k in PUBLIC_PC_KINDS if rng.random() < 0.7) or (rng.choice(PUBLIC_PC_KINDS),),
        public_pc_accounts_per_pc=(rng.randint(5, 10), rng.randint(20, 60)),
        public_pc_pcs_per_venue=(1, rng.randint(2, 4)),
        public_pc_visits_per_week=_span(rng, (1.5, 3.0), (4.0, 7.0)),
        public_pc_new_account_share=round(rng.uniform(0.3, 0.7), 3),
        public_pc_own_phone_share=round(rng.uniform(0.1, 0.4), 3),
        public_pc_attend_rate=round(rng.uniform(0.8, 0.92), 3),
        intermediary_staff=(1, rng.randint(2, 3)),
        intermediary_customers=(rng.randint(6, 15), rng.randint(25, 70)),
        intermediary_created_share=round(rng.uniform(0.3, 0.9), 3),
        intermediary_self_login_share=round(rng.uniform(0.1, 0.5), 3),
        intermediary_attend_rate=round(rng.uniform(0.92, 0.98), 3),
        intermediary_vpn_share=round(rng.uniform(0.0, 0.15), 3),
        cgnat_pool_size=(rng.randint(6, 15), rng.randint(25, 80)),
        mobile_ipv6_share=round(rng.uniform(0.2, 0.45), 3),
        buyer_patience_days=_span(rng, (0.2, 1.0), (2.0, 6.0)),
        buyer_attend_rate=round(rng.uniform(0.9, 0.98), 3),
        op_size={
            BOT_DATACENTER: (rng.randint(40, 60), rng.randint(70, 100)),
            BOT_RESIDENTIAL: (rng.randint(40, 60), rng.randint(70, 100)),
            BOT_MOBILE: (rng.randint(15, 30), rng.randint(40, 80)),
            SCALPER_HUMAN: (rng.randint(4, 8), rng.randint(12, 30)),
            FARM: (rng.randint(20, 40), rng.randint(80, 150)),
            BOOK_TO_ORDER: (rng.randint(5, 10), rng.randint(15, 40)),
        },
        poll_period_s={
            BOT_DATACENTER: (round(rng.uniform(1.5, 3.0), 2), round(rng.uniform(6.0, 10.0), 2)),
            BOT_RESIDENTIAL: (round(rng.uniform(3.0, 6.0), 2), round(rng.uniform(14.0, 20.0), 2)),
            BOT_MOBILE: (round(rng.uniform(4.0, 8.0), 2), round(rng.uniform(20.0, 40.0), 2)),
        },
        bot_duty_cycle=_span(rng, (0.25, 0.4), (0.55, 0.85)),
        bot_book_delay_s=(round(rng.uniform(0.25, 0.5), 3), round(rng.uniform(1.2, 2.2), 3)),
        bot_login_failure_rate=_span(rng, (0.01, 0.04), (0.08, 0.15)),
        human_scalper_reaction_s=_span(rng, (4.0, 8.0), (30.0, 60.0)),
        handoff_gap_s={
            "bot": (round(rng.uniform(0.8, 1.5), 2), round(rng.uniform(3.0, 8.0), 2)),
            "human": (round(rng.uniform(4.0, 8.0), 2), round(rng.uniform(25.0, 60.0), 2)),
        },
        resale_min_age_hours=_span(rng, (0.5, 2.0), (6.0, 24.0)),
        holds_per_account=(rng.randint(2, 4), rng.randint(6, 12)),
        farm_devices=(rng.randint(1, 3), rng.randint(5, 10)),
        farm_created_in_period_share=round(rng.uniform(0.6, 0.9), 3),
        placeholder_pool_share=round(rng.uniform(0.3, 0.7), 3),
        structure_weights=_weights(rng, {"all_search": 0.45, "split": 0.3, "mixed": 0.25}),
        handoff_prior=_weights(
            rng,
            {
                "handoff_buyer_device": 0.35,
                "handoff_seller_operated": 0.25,
                "applicant_change": 0.3,
                "book_to_order": 0.1,
            },
        ),
        hold_release_modes=_weights(rng, {"cancel": 0.35, "no_show": 0.25, "mixed": 0.4}),
        scam_operation_share=round(rng.uniform(0.1, 0.35), 3),
        rotation_share=round(rng.uniform(0.2, 0.5), 3),
        idle_share_max=round(rng.uniform(0.1, 0.3), 3),
        script_poll_period_s=_span(rng, (8.0, 15.0), (30.0, 60.0)),
    )


def _weights(rng: random.Random, base: dict[str, float]) -> dict[str, float]:
    """A per-world prior: each base weight scaled by a factor in [0.5, 1.5], then normalised."""
    scaled = {key: value * rng.uniform(0.5, 1.5) for key, value in base.items()}
    total = sum(scaled.values())
    return {key: round(value / total, 3) for key, value in scaled.items()}
