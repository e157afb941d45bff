"""Who lives in the world: accounts per role, grouped in offices and operations, with their networks,
devices, identity hashes and behaviour traits; and the processes that drive them.

Accounts are built in role order, then shuffled before ids are assigned, so neither the id nor the
position of an account says anything about its role.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulator import legit
from simulator.model import Account, Device, FixedNet, HomeNet, MobileNet, NetProfile, ProxyNet
from simulator.network import (
    BOT_UAS,
    DATACENTER,
    DESKTOP_UAS,
    EMULATOR_UAS,
    MOBILE_UAS,
    Endpoint,
)
from simulator.operations import Market, Operation, bot_operation, farm_operation, operator, sales
from simulator.roles import (
    ANXIOUS_AUTOREFRESH,
    ANXIOUS_MANUAL,
    ASSOCIATION,
    BOT_DATACENTER,
    BOT_RESIDENTIAL,
    BUYER,
    FAMILY,
    FARM,
    MOBILE,
    ORDINARY,
    SCALPER_HUMAN,
    SCALPER_ROLES,
    role_counts,
)
from simulator.timefmt import HOUR
from simulator.world import Process, World

logger = logging.getLogger(__name__)

FREE_MAIL = {
    "gmail.com": 0.35,
    "hotmail.fr": 0.14,
    "yahoo.fr": 0.07,
    "outlook.fr": 0.08,
    "orange.fr": 0.08,
    "free.fr": 0.06,
    "laposte.net": 0.05,
    "sfr.fr": 0.04,
    "icloud.com": 0.05,
    "wanadoo.fr": 0.03,
    "hotmail.com": 0.05,
}
BOT_MAIL = ("gmail.com", "outlook.com", "proton.me", "yandex.com", "mail.com")
THROWAWAY_TLDS = ("xyz", "top", "site", "online", "shop")


@dataclass
class Spec:
    """What an account will be, before ids are assigned."""

    role: str
    site: str
    group: str = ""
    op: Operation | None = None


def _weighted_choice(rng: random.Random, weights: dict[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _split(rng: random.Random, total: int, size_range: tuple[int, int]) -> list[int]:
    """Split ``total`` into group sizes drawn from ``size_range`` (the last group absorbs the rest)."""
    sizes: list[int] = []
    left = total
    while left > 0:
        size = min(left, rng.randint(*size_range))
        sizes.append(size)
        left -= size
    if len(sizes) > 1 and sizes[-1] < size_range[0] // 2:
        last = sizes.pop()
        sizes[-1] += last
    return sizes


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


class Population:
    """Builds accounts, offices and operations for a world, and starts their processes."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.rng = random.Random(f"{world.params.seed}/population")
        self.operations: list[Operation] = []
        self.offices: list[dict[str, Any]] = []
        self.market = Market(world, self.operations)
        self._office_devices: dict[str, list[Device]] = {}
        self._office_net: dict[str, NetProfile] = {}
        self._office_domain: dict[str, str] = {}
        self._operator_kit: dict[str, tuple[NetProfile, list[Device]]] = {}
        self._phones = 0
        self._domains = 0

    # ------------------------------------------------------------------ structure
    def build(self) -> list[Account]:
        """Create every account (ids assigned after a shuffle), then start every process."""
        world, rng = self.world, self.rng
        counts = role_counts(world.params.shares, world.params.accounts)
        specs: list[Spec] = []
        for role in SCALPER_ROLES:
            if counts.get(role, 0):
                specs += self._operation_specs(role, counts[role])
        if counts.get(BUYER, 0) and not self.operations:
            counts[ORDINARY] = counts.get(ORDINARY, 0) + counts.pop(BUYER)
        for role, count in counts.items():
            if role in SCALPER_ROLES:
                continue
            if role == ASSOCIATION:
                specs += self._office_specs(count)
            elif role == BUYER:
                pairs = [(op.site, op) for op in self.operations]
                for _ in range(count):
                    site, op = pairs[rng.randrange(len(pairs))]
                    specs.append(Spec(BUYER, site, op=op))
            else:
                specs += [Spec(role, _weighted_choice(rng, world.site_weights)) for _ in range(count)]
        rng.shuffle(specs)
        accounts = [self._account(index, spec) for index, spec in enumerate(specs)]
        world.accounts = accounts
        self._start(accounts)
        return accounts

    def _operation_specs(self, role: str, count: int) -> list[Spec]:
        world, rng = self.world, self.rng
        specs: list[Spec] = []
        for size in _split(rng, count, world.draws.op_size[role]):
            site = _weighted_choice(rng, world.site_weights)
            services = [s.service for s in world.services_of(site) if role != FARM or s.fixed]
            op = Operation(
                op_id=world.ids.make("op", 12),
                style=role,
                site=site,
                services=services,
                rng=random.Random(f"{world.params.seed}/op/{len(self.operations)}"),
            )
            op.traits = self._op_traits(op, size)
            self.operations.append(op)
            specs += [Spec(role, site, op=op) for _ in range(size)]
        return specs

    def _office_specs(self, count: int) -> list[Spec]:
        world, rng = self.world, self.rng
        specs: list[Spec] = []
        for size in _split(rng, count, world.draws.association_staff):
            office = world.ids.make("office", 8)
            site = _weighted_choice(rng, world.site_weights)
            vpn = rng.random() < world.draws.association_vpn_share
            endpoint = world.internet.datacenter(rng) if vpn else world.internet.residential(rng)
            self._office_net[office] = FixedNet([endpoint])
            self._office_devices[office] = [
                Device(world.ids.make("dev"), rng.choice(DESKTOP_UAS)) for _ in range(rng.randint(1, 3))
            ]
            kind = rng.choice(("asso", "cabinet", "avocats", "ccas", "accueil"))
            self._domains += 1
            self._office_domain[office] = f"{kind}-{world.ids.keyed('domain', self._domains, 6)}.fr"
            self.offices.append({"office": office, "site": site, "staff": size, "corporate_vpn": vpn})
            specs += [Spec(ASSOCIATION, site, group=office) for _ in range(size)]
        return specs

    def _op_traits(self, op: Operation, size: int) -> dict[str, Any]:
        """Per-operation draws (recorded in world.json)."""
        d, rng = self.world.draws, op.rng
        holds_mean = sum(d.holds_per_account) / 2
        traits: dict[str, Any] = {
            "handoff_share": round(rng.uniform(*d.handoff_share), 3),
            "dump_share": round(rng.uniform(*d.dump_share), 3),
            "dump_lead_h": d.dump_lead_hours,
            "resale_min_age_h": round(rng.uniform(*d.resale_min_age_hours), 2),
            "placeholders": "pool" if rng.random() < d.placeholder_pool_share else "fresh",
            "login_failure_rate": round(rng.uniform(*d.bot_login_failure_rate), 3),
        }
        if traits["placeholders"] == "pool":
            op.placeholder_pool = [self.world.ids.make("app") for _ in range(rng.randint(3, 15))]
            traits["placeholder_pool_size"] = len(op.placeholder_pool)
        if op.style in (BOT_DATACENTER, BOT_RESIDENTIAL):
            low, high = d.poll_period_s[op.style]
            traits.update(
                poll_period_s=round(_log_uniform(rng, low, high), 3),
                timing="regular" if rng.random() < 0.5 else "jittered",
                jitter_ms=round(rng.uniform(3, 40), 1),
                jitter_sigma=round(rng.uniform(0.15, 0.5), 3),
                duty_cycle=round(rng.uniform(*d.bot_duty_cycle), 3),
                shift_minutes=(rng.randint(10, 40), rng.randint(60, 240)),
                pollers=min(size, rng.randint(1, 3)),
                book_delay_s=d.bot_book_delay_s,
                handoff_gap_s=d.handoff_gap_s["bot"],
                inventory_cap=max(2, round(size * holds_mean * rng.uniform(0.5, 1.2))),
                created_in_period_share=round(rng.uniform(0.0, 0.4), 3),
            )
        if op.style == BOT_DATACENTER:
            traits.update(
                user_agent=rng.choice(("bot", "bot", "copied")),
                device_id=rng.choice(("missing", "constant", "per_account")),
                datacenter_asns=rng.sample(sorted(DATACENTER), rng.randint(1, 2)),
            )
        elif op.style == BOT_RESIDENTIAL:
            traits.update(
                fingerprint=rng.choice(("stable", "rotating")),
                mobile_proxy_share=round(rng.uniform(0.0, 0.3), 3),
            )
        elif op.style == SCALPER_HUMAN:
            traits.update(
                operators=max(1, min(size, rng.randint(1, 3))),
                interval_s=round(rng.uniform(20, 90), 1),
                reaction_s=d.human_scalper_reaction_s,
                handoff_gap_s=d.handoff_gap_s["human"],
                inventory_cap=max(2, round(size * holds_mean * rng.uniform(0.4, 1.0))),
                login_failure_rate=0.03,
                created_in_period_share=round(rng.uniform(0.0, 0.3), 3),
            )
        elif op.style == FARM:
            world = self.world
            created = rng.random() < d.farm_created_in_period_share
            traits.update(
                infra=rng.choice(("datacenter", "residential_proxy")),
                devices=rng.randint(*d.farm_devices),
                created_at=world.start + rng.randrange(int((world.end - world.start) * 0.4)) if created else None,
                burst_minutes=round(rng.uniform(3, 40), 1),
                handoff_gap_s=d.handoff_gap_s["bot"],
                inventory_cap=max(2, round(size * 1.5)),
                email=rng.choice(("shared_domain", "free_mail")),
                shared_phones=rng.randint(2, 10) if rng.random() < 0.5 else 0,
            )
            op.traits = traits
            self._farm_kit(op)
        return traits

    # ------------------------------------------------------------------ accounts
    def _account(self, index: int, spec: Spec) -> Account:
        world = self.world
        ids = world.ids
        rng = random.Random(f"{world.params.seed}/account/{index}")
        account = Account(
            account_id=f"acc-{ids.keyed('acc', index)}",
            role=spec.role,
            site=spec.site,
            rng=rng,
            net=FixedNet([Endpoint("0.0.0.0", 0)]),
            devices=[],
            email_hash=ids.keyed("email", index, 32),
            email_domain="",
            phone_hash=None,
            op=spec.op,
            group=spec.group,
        )
        setup: Callable[[Account], None] = {
            ASSOCIATION: self._setup_association,
            BOT_DATACENTER: self._setup_bot_datacenter,
            BOT_RESIDENTIAL: self._setup_bot_residential,
            SCALPER_HUMAN: self._setup_scalper_human,
            FARM: self._setup_farm,
        }.get(spec.role, self._setup_person)
        setup(account)
        if spec.role == BUYER:
            account.op = None  # the op only chose the buyer's site and service; the market picks the seller
        elif spec.op is not None:
            spec.op.accounts.append(account)
        return account

    def _person_devices(self, rng: random.Random, mobile_first: bool) -> list[Device]:
        ids = self.world.ids
        phone = Device(ids.make("dev"), rng.choice(MOBILE_UAS), mobile=True)
        if mobile_first:
            return [phone] if rng.random() < 0.8 else [phone, Device(ids.make("dev"), rng.choice(MOBILE_UAS), True)]
        desktop = Device(ids.make("dev"), rng.choice(DESKTOP_UAS))
        return [desktop, phone] if rng.random() < 0.6 else [desktop]

    def _setup_person(self, account: Account) -> None:
        """Ordinary, mobile, anxious, family and buyer accounts: one person, their devices and home."""
        world, rng, d = self.world, account.rng, self.world.draws
        ids = world.ids
        if account.role == MOBILE:
            account.net = MobileNet(world.internet, rng, d.mobile_ipv6_share, wifi_share=0.15)
            account.devices = self._person_devices(rng, mobile_first=True)
        else:
            account.net = HomeNet(world.internet, rng, d.mobile_session_share, v6_share=0.3)
            account.devices = self._person_devices(rng, mobile_first=False)
        account.email_domain = _weighted_choice(rng, FREE_MAIL)
        account.phone_hash = ids.keyed("phone", self._next_phone(), 32) if rng.random() < 0.75 else None
        account.login_failure_rate = 0.03
        services = [s.service for s in world.services_of(account.site)]
        if account.role == BUYER and account.op is not None:
            services = account.op.services
        service = rng.choice(services)
        account.service = service
        relatives = rng.randint(2, 5) if account.role == FAMILY else 1
        for _ in range(relatives):
            applicant = ids.make("app")
            account.applicants.append(applicant)
            account.pending.append((applicant, service if rng.random() < 0.85 else rng.choice(services)))
        traits = account.traits
        traits["reaction_s"] = rng.uniform(*d.reaction_s_median)
        traits["visits_per_day"] = rng.uniform(*d.visits_per_day) * (1.3 if account.role == BUYER else 1.0)
        traits["new"] = 1.0 if rng.random() < d.new_account_share else 0.0
        if account.role in (ANXIOUS_MANUAL, BUYER):
            traits["interval_s"] = _log_uniform(rng, *d.manual_interval_s)
            traits["anxious"] = 1.0 if account.role == BUYER and rng.random() < 0.35 else 0.0
        if account.role == ANXIOUS_AUTOREFRESH:
            traits["period_s"] = float(rng.choices(d.autorefresh_periods_s, d.autorefresh_period_weights)[0])
            traits["jitter_ms"] = rng.uniform(*d.autorefresh_jitter_ms)

    def _next_phone(self) -> int:
        """A new phone number index (phone hashes are keyed hashes of it)."""
        self._phones += 1
        return self._phones

    def _setup_association(self, account: Account) -> None:
        """Office staff: the office's address and shared PCs, sometimes a laptop of their own."""
        world, rng, d = self.world, account.rng, self.world.draws
        office = account.group
        account.net = self._office_net[office]
        shared = self._office_devices[office]
        account.devices = [shared[rng.randrange(len(shared))]]
        if rng.random() < 0.5:
            account.devices.append(Device(world.ids.make("dev"), rng.choice(DESKTOP_UAS)))
        account.email_domain = self._office_domain[office] if rng.random() < 0.7 else _weighted_choice(rng, FREE_MAIL)
        account.phone_hash = world.ids.keyed("phone", self._next_phone(), 32) if rng.random() < 0.8 else None
        account.login_failure_rate = 0.03
        account.traits.update(
            reaction_s=rng.uniform(*d.reaction_s_median),
            interval_s=_log_uniform(rng, *d.association_interval_s),
            clients_per_day=rng.uniform(*d.association_clients_per_day),
        )

    def _scalper_common(self, account: Account) -> Operation:
        op = account.op
        assert op is not None
        rng, d, world = account.rng, self.world.draws, self.world
        account.login_failure_rate = float(op.traits["login_failure_rate"])
        account.traits["holds"] = float(rng.randint(*d.holds_per_account))
        account.service = op.services[0]
        is_poller = len([a for a in op.accounts if a.traits.get("poller")]) < int(op.traits.get("pollers", 0))
        if is_poller:
            account.traits["poller"] = 1.0
        account.traits["striker"] = 1.0
        share = float(op.traits.get("created_in_period_share", 0.0))
        if not is_poller and op.style != FARM and rng.random() < share:
            when = world.start + rng.randrange(int((world.end - world.start) * 0.6))
            account.traits["ready_at"] = float(when)
            world.at(when, _create_later(world, account))
        return op

    def _setup_bot_datacenter(self, account: Account) -> None:
        op = self._scalper_common(account)
        world, rng = self.world, account.rng
        kit = self._operator_kit.get(op.op_id)
        if kit is None:
            orng = op.rng
            endpoints = [
                world.internet.datacenter(orng, orng.choice(op.traits["datacenter_asns"]))
                for _ in range(orng.randint(1, 4))
            ]
            ua = orng.choice(BOT_UAS) if op.traits["user_agent"] == "bot" else orng.choice(DESKTOP_UAS)
            device_id = world.ids.make("dev") if op.traits["device_id"] == "constant" else None
            kit = (FixedNet(endpoints), [Device(device_id, ua)])
            self._operator_kit[op.op_id] = kit
            op.traits["ips"] = len(endpoints)
        account.net = kit[0]
        base = kit[1][0]
        if op.traits["device_id"] == "per_account":
            account.devices = [Device(world.ids.make("dev"), base.user_agent)]
        else:
            account.devices = [base]
        account.email_domain = self._op_domain(op)
        account.phone_hash = world.ids.keyed("phone", self._next_phone(), 32) if rng.random() < 0.4 else None

    def _setup_bot_residential(self, account: Account) -> None:
        op = self._scalper_common(account)
        world, rng = self.world, account.rng
        account.net = ProxyNet(world.internet, float(op.traits["mobile_proxy_share"]), per_request=True)
        count = 1 if op.traits["fingerprint"] == "stable" else rng.randint(5, 15)
        account.devices = [Device(world.ids.make("dev"), rng.choice(DESKTOP_UAS)) for _ in range(count)]
        account.email_domain = self._op_domain(op)
        account.phone_hash = world.ids.keyed("phone", self._next_phone(), 32) if rng.random() < 0.5 else None

    def _setup_scalper_human(self, account: Account) -> None:
        op = self._scalper_common(account)
        world, rng = self.world, account.rng
        operators = int(op.traits["operators"])
        position = len(op.accounts)
        name = f"{op.op_id}/operator-{position % operators}"
        account.group = name
        kit = self._operator_kit.get(name)
        if kit is None:
            orng = op.rng
            devices = [Device(world.ids.make("dev"), orng.choice(DESKTOP_UAS))]
            if orng.random() < 0.5:
                devices.append(Device(world.ids.make("dev"), orng.choice(MOBILE_UAS), mobile=True))
            kit = (FixedNet([world.internet.residential(orng)]), devices)
            self._operator_kit[name] = kit
        account.net, account.devices = kit
        account.email_domain = _weighted_choice(rng, FREE_MAIL)
        account.phone_hash = world.ids.keyed("phone", self._next_phone(), 32) if rng.random() < 0.6 else None

    def _op_domain(self, op: Operation) -> str:
        """A bot operation's e-mail domain: its own throwaway domain, or big free providers ("*")."""
        domain = op.traits.get("email_domain")
        if domain is None:
            domain = self._throwaway_domain(op.rng) if op.rng.random() < 0.5 else "*"
            op.traits["email_domain"] = domain
        return op.rng.choice(BOT_MAIL) if domain == "*" else str(domain)

    def _throwaway_domain(self, rng: random.Random) -> str:
        """A freshly registered domain, e.g. ``3f9a01c2.xyz``."""
        self._domains += 1
        return f"{self.world.ids.keyed('domain', self._domains, 8)}.{rng.choice(THROWAWAY_TLDS)}"

    def _farm_kit(self, op: Operation) -> None:
        """A farm's shared emulator fingerprints, network and phone numbers."""
        world, rng = self.world, op.rng
        devices = [
            Device(world.ids.make("dev"), rng.choice(EMULATOR_UAS + MOBILE_UAS), mobile=True)
            for _ in range(int(op.traits["devices"]))
        ]
        net: NetProfile
        if op.traits["infra"] == "datacenter":
            asn = rng.choice(sorted(DATACENTER))
            net = FixedNet([world.internet.datacenter(rng, asn) for _ in range(rng.randint(2, 10))])
        else:
            net = ProxyNet(world.internet, rng.uniform(0.1, 0.6), per_request=False)
        phones = [world.ids.keyed("phone", self._next_phone(), 32) for _ in range(int(op.traits["shared_phones"]))]
        domain = self._throwaway_domain(rng) if op.traits["email"] == "shared_domain" else "gmail.com"
        self._operator_kit[op.op_id] = (net, devices)
        op.traits["email_domain"] = domain
        op.traits["_phones"] = phones

    def _setup_farm(self, account: Account) -> None:
        op = self._scalper_common(account)
        rng = account.rng
        net, devices = self._operator_kit[op.op_id]
        account.net = net
        account.devices = [devices[rng.randrange(len(devices))]]
        account.email_domain = str(op.traits["email_domain"])
        phones: list[str] = op.traits["_phones"]
        account.phone_hash = phones[rng.randrange(len(phones))] if phones else None
        account.traits["bookings"] = float(rng.randint(1, 2))
        account.traits.pop("poller", None)

    # ------------------------------------------------------------------ processes
    def _start(self, accounts: list[Account]) -> None:
        world = self.world
        behaviours: dict[str, Callable[[World, Account], Process]] = {
            ORDINARY: legit.ordinary,
            MOBILE: legit.ordinary,
            FAMILY: legit.family,
            ANXIOUS_MANUAL: legit.anxious_manual,
            ANXIOUS_AUTOREFRESH: legit.anxious_autorefresh,
            ASSOCIATION: legit.association_staff,
        }
        for account in accounts:
            if account.role == BUYER:
                world.at(world.start, legit.buyer(world, account, self.market.contact))
            elif account.role in behaviours:
                world.at(world.start, behaviours[account.role](world, account))
        for op in self.operations:
            op.traits.pop("_phones", None)
            world.at(world.start, sales(world, op))
            if op.style in (BOT_DATACENTER, BOT_RESIDENTIAL):
                world.at(world.start, bot_operation(world, op))
            elif op.style == SCALPER_HUMAN:
                openings = sorted(
                    t for s in world.services_of(op.site) if s.service in op.services and s.fixed for t in s.openings
                )
                by_operator: dict[str, list[Account]] = {}
                for account in op.accounts:
                    by_operator.setdefault(account.group, []).append(account)
                for members in by_operator.values():
                    world.at(world.start, operator(world, op, members, openings))
            elif op.style == FARM:
                openings_by_service = sorted(
                    (t, s.service) for s in world.services_of(op.site) if s.service in op.services for t in s.openings
                )
                world.at(world.start, farm_operation(world, op, openings_by_service))


def _create_later(world: World, account: Account) -> Process:
    """An operation adds an account during the period: sign-up, then a first login."""
    world.create_account(account)
    yield world.now + account.rng.randint(5_000, 60_000)
    yield from world.login(account)
    world.logout(account)
    yield world.now + HOUR
