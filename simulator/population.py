"""Who lives in the world: accounts per role, grouped in offices, venues, households and operations,
with their networks, devices, identity hashes and behaviour traits; and the processes that drive them.

Accounts are built in role order, then shuffled before ids are assigned, so neither the id nor the
position of an account says anything about its role.
"""

from __future__ import annotations

import logging
import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulator import legit
from simulator.infra import Identities, Infrastructure, Venue
from simulator.model import Account, Device, FixedNet, HomeNet, Kit, MobileNet, VenueNet
from simulator.network import DESKTOP_UAS, MOBILE_UAS, Endpoint
from simulator.operations import Operation, start_operation
from simulator.resale import Market, sales
from simulator.roles import (
    ANXIOUS_AUTOREFRESH,
    ANXIOUS_MANUAL,
    ASSOCIATION,
    BUYER,
    FAMILY,
    FARM,
    INTERMEDIARY_CUSTOMER,
    LAWYER,
    MOBILE,
    ORDINARY,
    PUBLIC_PC,
    SCALPER_ROLES,
    role_counts,
)
from simulator.structure import draw_operation, weighted
from simulator.timefmt import DAY
from simulator.world import Process, World

logger = logging.getLogger(__name__)

ASSOCIATION_STEMS = ("asso", "ccas", "accueil", "collectif")
LAWYER_STEMS = ("avocat", "cabinet", "selarl", "scp")


@dataclass
class Spec:
    """What an account will be, before ids are assigned."""

    role: str
    site: str
    group: str = ""
    op: Operation | None = None


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


@dataclass
class _Office:
    """An association or law office: its address, shared PCs, e-mail domain and rates."""

    name: str
    role: str
    kit: Kit
    domain: str


class Population:
    """Builds accounts, offices, venues, households and operations for a world, and starts their processes."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.rng = random.Random(f"{world.params.seed}/population")
        self.operations: list[Operation] = []
        self.offices: list[dict[str, Any]] = []
        self.venues: list[Venue] = []
        self.households: list[dict[str, Any]] = []
        self.intermediaries: dict[str, legit.Office] = {}
        self.market = Market(world, self.operations)
        self.identities = Identities(world)
        self.infra = Infrastructure(world, self.identities, self.venues)
        self._offices: dict[str, _Office] = {}
        self._venue_of: dict[str, Venue] = {}
        self._households: dict[str, tuple[HomeNet, Device]] = {}

    # ------------------------------------------------------------------ structure
    def build(self) -> list[Account]:
        """Create every account (ids assigned after a shuffle), then start every process."""
        world, rng = self.world, self.rng
        counts = role_counts(world.params.shares, world.params.accounts)
        specs: list[Spec] = []
        if counts.get(PUBLIC_PC, 0):
            specs += self._public_pc_specs(counts[PUBLIC_PC])  # first: operations may use the same cafés
        for role in SCALPER_ROLES:
            if counts.get(role, 0):
                specs += self._operation_specs(role, counts[role])
        if counts.get(BUYER, 0) and not self.operations:
            counts[ORDINARY] = counts.get(ORDINARY, 0) + counts.pop(BUYER)
        for role, count in counts.items():
            if role in SCALPER_ROLES or role == PUBLIC_PC:
                continue
            if role in (ASSOCIATION, LAWYER):
                specs += self._office_specs(role, count)
            elif role == INTERMEDIARY_CUSTOMER:
                specs += self._intermediary_specs(count)
            elif role == FAMILY:
                specs += self._family_specs(count)
            elif role == BUYER:
                pairs = [(op.site, op) for op in self.operations]
                for _ in range(count):
                    site, op = pairs[rng.randrange(len(pairs))]
                    specs.append(Spec(BUYER, site, op=op))
            else:
                specs += [Spec(role, weighted(rng, world.site_weights)) for _ in range(count)]
        rng.shuffle(specs)
        accounts = [self._account(index, spec) for index, spec in enumerate(specs)]
        world.accounts = accounts
        self._start(accounts)
        return accounts

    def _operation_specs(self, role: str, count: int) -> list[Spec]:
        world, rng = self.world, self.rng
        specs: list[Spec] = []
        for size in _split(rng, count, world.draws.op_size[role]):
            site = weighted(rng, world.site_weights)
            supplies = world.services_of(site)
            op_rng = random.Random(f"{world.params.seed}/op/{len(self.operations)}")
            structure, traits = draw_operation(
                op_rng,
                world.draws,
                world.params.variants,
                style=role,
                size=size,
                has_fixed_openings=any(s.fixed for s in supplies),
            )
            only_fixed = structure["watch"] == "openings"
            services = [s.service for s in supplies if s.fixed or not only_fixed] or [s.service for s in supplies]
            op = Operation(
                op_id=world.ids.make("op", 12),
                style=role,
                site=site,
                services=services,
                rng=op_rng,
                size=size,
                structure=structure,
                traits=traits,
            )
            if structure["placeholders"] == "pool":
                op.placeholder_pool = [world.ids.make("app") for _ in range(op_rng.randint(3, 15))]
                traits["placeholder_pool_size"] = len(op.placeholder_pool)
            op.seller_kit = self.infra.seller_kit(op)
            self.operations.append(op)
            specs += [Spec(role, site, op=op) for _ in range(size)]
        return specs

    def _office_specs(self, role: str, count: int) -> list[Spec]:
        world, rng, d = self.world, self.rng, self.world.draws
        staff_range = d.association_staff if role == ASSOCIATION else d.lawyer_staff
        vpn_share = d.association_vpn_share if role == ASSOCIATION else d.association_vpn_share / 3
        specs: list[Spec] = []
        for size in _split(rng, count, staff_range):
            name = world.ids.make("office", 8)
            site = weighted(rng, world.site_weights)
            vpn = rng.random() < vpn_share
            endpoint = world.internet.datacenter(rng) if vpn else world.internet.residential(rng)
            pcs = [Device(world.ids.make("dev"), rng.choice(DESKTOP_UAS)) for _ in range(rng.randint(1, 3))]
            stem = rng.choice(ASSOCIATION_STEMS if role == ASSOCIATION else LAWYER_STEMS)
            domain = self.identities.domain(rng, stem)
            self._offices[name] = _Office(name, role, Kit(FixedNet([endpoint]), pcs), domain)
            self.offices.append({"office": name, "kind": role, "site": site, "staff": size, "corporate_vpn": vpn})
            specs += [Spec(role, site, group=name) for _ in range(size)]
        return specs

    def _public_pc_specs(self, count: int) -> list[Spec]:
        """Venues of 1-4 PCs, each PC used by 5-60 unrelated people."""
        world, rng, d = self.world, self.rng, self.world.draws
        specs: list[Spec] = []
        left = count
        while left > 0:
            kind = rng.choice(d.public_pc_kinds)
            site = weighted(rng, world.site_weights)
            name = world.ids.make("venue", 8)
            pcs = [
                Device(world.ids.make("dev"), rng.choice(DESKTOP_UAS))
                for _ in range(rng.randint(*d.public_pc_pcs_per_venue))
            ]
            venue = Venue(name, kind, site, world.internet.residential(rng), pcs)
            self.venues.append(venue)
            for index, _pc in enumerate(pcs):
                size = min(left, rng.randint(*d.public_pc_accounts_per_pc))
                if 0 < left - size < d.public_pc_accounts_per_pc[0]:
                    size = left
                group = f"{name}/pc-{index}"
                specs += [Spec(PUBLIC_PC, site, group=group) for _ in range(size)]
                self._venue_of[group] = venue
                left -= size
                if left <= 0:
                    break
        return specs

    def _intermediary_specs(self, count: int) -> list[Spec]:
        world, rng, d = self.world, self.rng, self.world.draws
        specs: list[Spec] = []
        for size in _split(rng, count, d.intermediary_customers):
            name = world.ids.make("agency", 8)
            site = weighted(rng, world.site_weights)
            vpn = rng.random() < d.intermediary_vpn_share
            endpoint = world.internet.datacenter(rng) if vpn else world.internet.residential(rng)
            pcs = [Device(world.ids.make("dev"), rng.choice(DESKTOP_UAS)) for _ in range(rng.randint(1, 3))]
            staff = rng.randint(*d.intermediary_staff)
            office = legit.Office(
                name,
                Kit(FixedNet([endpoint]), pcs),
                attend_rate=d.intermediary_attend_rate,
                reaction_s=rng.uniform(*d.reaction_s_median),
                searches_per_customer=rng.randint(4, 12),
                staff=staff,
            )
            self.intermediaries[name] = office
            self.offices.append(
                {
                    "office": name,
                    "kind": "intermediary",
                    "site": site,
                    "staff": staff,
                    "customers": size,
                    "corporate_vpn": vpn,
                }
            )
            specs += [Spec(INTERMEDIARY_CUSTOMER, site, group=name) for _ in range(size)]
        return specs

    def _family_specs(self, count: int) -> list[Spec]:
        """Family accounts: some live in households sharing one PC between relatives' accounts."""
        world, rng, d = self.world, self.rng, self.world.draws
        shared = round(count * d.family_shared_pc_share)
        specs: list[Spec] = []
        for size in _split(rng, shared, d.family_household_size) if shared >= 2 else []:
            name = world.ids.make("household", 8)
            site = weighted(rng, world.site_weights)
            self.households.append({"household": name, "site": site, "accounts": size})
            specs += [Spec(FAMILY, site, group=name) for _ in range(size)]
        specs += [Spec(FAMILY, weighted(rng, world.site_weights)) for _ in range(count - len(specs))]
        return specs

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
        if spec.role in SCALPER_ROLES:
            self._setup_scalper(account)
        elif spec.role in (ASSOCIATION, LAWYER):
            self._setup_office_staff(account)
        else:
            self._setup_person(account)
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
        """One person (ordinary, mobile, anxious, family, public-PC user, intermediary customer, buyer)."""
        world, rng, d = self.world, account.rng, self.world.draws
        ids = world.ids
        role = account.role
        if role == MOBILE:
            account.net = MobileNet(world.internet, rng, d.mobile_ipv6_share, wifi_share=0.15)
            account.devices = self._person_devices(rng, mobile_first=True)
        elif role == PUBLIC_PC:
            venue = self._venue_of[account.group]
            pc = venue.pcs[int(account.group.rsplit("-", 1)[1])]
            own_phone = rng.random() < d.public_pc_own_phone_share
            account.net = VenueNet(world.internet, venue.endpoint, rng, 0.3 if own_phone else 0.0)
            account.devices = [pc]
            if own_phone:
                account.devices.append(Device(ids.make("dev"), rng.choice(MOBILE_UAS), mobile=True))
        elif role == FAMILY and account.group:
            net, pc = self._household(account.group)
            account.net = net
            account.devices = [pc, Device(ids.make("dev"), rng.choice(MOBILE_UAS), mobile=True)]
        else:
            account.net = HomeNet(world.internet, rng, d.mobile_session_share, v6_share=0.3)
            account.devices = self._person_devices(rng, mobile_first=False)
        account.email_domain = self.identities.free_mail(rng)
        account.phone_hash = self.identities.phone() if rng.random() < 0.75 else None
        account.login_failure_rate = 0.03
        services = [s.service for s in world.services_of(account.site)]
        if role == BUYER and account.op is not None:
            services = account.op.services
        service = rng.choice(services)
        account.service = service
        relatives = 1
        if role == FAMILY:
            relatives = rng.randint(1, 2) if account.group else rng.randint(2, 5)
        for _ in range(relatives):
            applicant = ids.make("app")
            account.applicants.append(applicant)
            account.pending.append((applicant, service if rng.random() < 0.85 else rng.choice(services)))
        traits = account.traits
        traits["reaction_s"] = rng.uniform(*d.reaction_s_median)
        traits["visits_per_day"] = rng.uniform(*d.visits_per_day) * (1.3 if role == BUYER else 1.0)
        traits["new"] = 1.0 if rng.random() < d.new_account_share else 0.0
        if role in (ANXIOUS_MANUAL, BUYER):
            traits["interval_s"] = _log_uniform(rng, *d.manual_interval_s)
            traits["anxious"] = 1.0 if role == BUYER and rng.random() < 0.35 else 0.0
        if role == ANXIOUS_AUTOREFRESH:
            traits["period_s"] = float(rng.choices(d.autorefresh_periods_s, d.autorefresh_period_weights)[0])
            traits["jitter_ms"] = rng.uniform(*d.autorefresh_jitter_ms)
            if rng.random() < d.autorefresh_tab_share:
                traits["tabs"] = float(rng.randint(*d.autorefresh_tabs))
        if role == PUBLIC_PC:
            traits["new"] = 1.0 if rng.random() < d.public_pc_new_account_share else 0.0
            traits["visits_per_week"] = rng.uniform(*d.public_pc_visits_per_week)
            traits["attend_rate"] = d.public_pc_attend_rate
        if role == INTERMEDIARY_CUSTOMER:
            self._customer_traits(account)

    def _household(self, name: str) -> tuple[HomeNet, Device]:
        """A household's home connection and the PC its relatives share."""
        kit = self._households.get(name)
        if kit is None:
            world = self.world
            hrng = random.Random(f"{world.params.seed}/{name}")
            net = HomeNet(world.internet, hrng, world.draws.mobile_session_share, v6_share=0.3)
            kit = self._households[name] = (net, Device(world.ids.make("dev"), hrng.choice(DESKTOP_UAS)))
        return kit

    def _customer_traits(self, account: Account) -> None:
        world, rng, d = self.world, account.rng, self.world.draws
        traits = account.traits
        span = world.end - world.start
        already = rng.random() < 0.4
        traits["joins_at"] = float(world.start if already else world.start + rng.randrange(max(1, span - DAY)))
        traits["created_by_office"] = 1.0 if traits["new"] and rng.random() < d.intermediary_created_share else 0.0
        if not already and not traits["created_by_office"] and rng.random() < d.intermediary_self_login_share:
            traits["tries_alone"] = 1.0
        traits["checks"] = 1.0 if rng.random() < d.intermediary_self_login_share else 0.0
        if traits["created_by_office"]:
            traits["new"] = 1.0

    def _setup_office_staff(self, account: Account) -> None:
        """Association or law-office staff: the office's address and shared PCs, sometimes a laptop."""
        world, rng, d = self.world, account.rng, self.world.draws
        office = self._offices[account.group]
        account.net = office.kit.net
        shared = office.kit.devices
        account.devices = [shared[rng.randrange(len(shared))]]
        if rng.random() < 0.5:
            account.devices.append(Device(world.ids.make("dev"), rng.choice(DESKTOP_UAS)))
        account.email_domain = office.domain if rng.random() < 0.7 else self.identities.free_mail(rng)
        account.phone_hash = self.identities.phone() if rng.random() < 0.8 else None
        account.login_failure_rate = 0.03
        lawyer = account.role == LAWYER
        account.traits.update(
            reaction_s=rng.uniform(*d.reaction_s_median),
            interval_s=_log_uniform(rng, *d.association_interval_s),
            clients_per_day=rng.uniform(*(d.lawyer_clients_per_day if lawyer else d.association_clients_per_day)),
            attend_rate=d.lawyer_attend_rate if lawyer else d.association_attend_rate,
            rebook_rate=d.association_rebook_rate,
            modify_rate=d.association_modify_rate * (1.5 if lawyer else 1.0),
        )

    def _setup_scalper(self, account: Account) -> None:
        op = account.op
        assert op is not None
        rng, d = account.rng, self.world.draws
        account.login_failure_rate = float(op.traits["login_failure_rate"])
        small = op.style == FARM or op.structure["watch"] == "clickers" or op.structure.get("clicker_bookers")
        account.traits["holds"] = float(rng.randint(1, 2) if small else rng.randint(*d.holds_per_account))
        account.traits["bookings"] = float(rng.randint(1, 2))
        account.service = op.services[0]
        self.infra.setup(op, account, len(op.accounts))

    # ------------------------------------------------------------------ processes
    def _start(self, accounts: list[Account]) -> None:
        world = self.world
        behaviours: dict[str, Callable[[World, Account], Process]] = {
            ORDINARY: legit.ordinary,
            MOBILE: legit.ordinary,
            FAMILY: legit.family,
            ANXIOUS_MANUAL: legit.anxious_manual,
            ANXIOUS_AUTOREFRESH: legit.anxious_autorefresh,
            ASSOCIATION: legit.office_staff,
            LAWYER: legit.office_staff,
        }
        for account in accounts:
            if account.role == BUYER:
                world.at(world.start, legit.buyer(world, account, self.market.contact))
            elif account.role == PUBLIC_PC:
                venue = self._venue_of[account.group]
                kit = Kit(FixedNet([venue.endpoint]), [account.devices[0]])
                world.at(world.start, legit.public_pc_user(world, account, venue.kind, kit))
            elif account.role == INTERMEDIARY_CUSTOMER:
                office = self.intermediaries[account.group]
                world.at(world.start, legit.intermediary_customer(world, account, office))
            elif account.role in behaviours:
                world.at(world.start, behaviours[account.role](world, account))
        for office in self.intermediaries.values():
            for member in range(office.staff):
                world.at(world.start, legit.intermediary_staff(world, office, member))
        for op in self.operations:
            supplies = [s for s in world.services_of(op.site) if s.service in op.services]
            fixed = sorted(t for s in supplies if s.fixed for t in s.openings)
            by_service = sorted((t, s.service) for s in supplies if s.fixed for t in s.openings)
            start_operation(world, op, fixed, by_service)
            world.at(world.start, sales(world, op))

    # ------------------------------------------------------------------ world.json
    def describe_structure(self) -> dict[str, Any]:
        """World-level structural draws: which styles, shared-device kinds and variants appear."""
        world = self.world
        styles = Counter(op.style for op in self.operations)
        venues = Counter(v.kind for v in self.venues)
        tabs = sum(1 for a in world.accounts if a.traits.get("tabs"))
        kinds = Counter(o["kind"] for o in self.offices)
        return {
            "styles": {style: styles[style] for style in SCALPER_ROLES if styles[style]},
            "shared_devices": {
                "public_pc_venues": {kind: venues[kind] for kind in sorted(venues)},
                "public_pcs": sum(len(v.pcs) for v in self.venues),
                "family_shared_pc_households": len(self.households),
                "autorefresh_multi_tab_accounts": tabs,
                "association_offices": kinds[ASSOCIATION],
                "lawyer_offices": kinds[LAWYER],
                "intermediary_offices": kinds["intermediary"],
            },
            "variants": world.params.variants.describe(),
            "operation_structures": {
                key: dict(sorted(Counter(str(op.structure[key]) for op in self.operations).items()))
                for key in ("watch", "search_roles", "seller_device", "email", "phones")
            },
            "operation_infrastructure": dict(
                sorted(Counter(str(op.structure["infrastructure"]["watchers"]) for op in self.operations).items())
            ),
        }
