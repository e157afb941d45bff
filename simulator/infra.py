"""What scalping operations run on: servers, VPNs, residential proxies, phones behind carrier-grade
NAT, cyber-café PCs, homes; and the e-mail addresses and phone numbers their accounts carry.

An operation's accounts are grouped in *units* (the people, phones or machines behind them: see
``structure``). A unit of a given infrastructure kind gets one ``Kit`` (network + devices), built
once and shared by the unit's accounts. With ``rotation`` the operation keeps every address,
phone and phone number under three accounts, as services' "no more than three per IP, e-mail or
phone" limits require.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass
from typing import Final

from simulator.model import Account, CarrierNet, Device, FixedNet, Kit, NetProfile, ProxyNet
from simulator.network import BOT_UAS, DESKTOP_UAS, EMULATOR_UAS, MOBILE_UAS, VPN, Endpoint
from simulator.operations import Operation
from simulator.roles import BOT_RESIDENTIAL, FARM
from simulator.structure import weighted
from simulator.world import World

logger = logging.getLogger(__name__)

FREE_MAIL: Final = {
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
#: big web-mail providers where fresh addresses are created in bulk
FRESH_WEBMAIL: Final = ("gmail.com", "outlook.com", "proton.me", "yandex.com", "mail.com", "gmx.fr")
#: public disposable-address services
DISPOSABLE_MAIL: Final = (
    "yopmail.com",
    "yopmail.fr",
    "jetable.org",
    "mailinator.com",
    "guerrillamail.com",
    "10minutemail.com",
    "temp-mail.org",
    "trashmail.com",
    "maildrop.cc",
    "sharklasers.com",
)
THROWAWAY_TLDS: Final = ("xyz", "top", "site", "online", "shop")
ANDROID_UAS: Final = tuple(ua for ua in MOBILE_UAS if "Android" in ua)


@dataclass(eq=False)
class Venue:
    """A place with public PCs (cyber-café, library, social centre): one address, a few PCs."""

    name: str
    kind: str
    site: str
    endpoint: Endpoint
    pcs: list[Device]


class Identities:
    """Issues phone numbers and fresh domains for the whole population (keyed hashes, reproducible)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._phones = 0
        self._domains = 0

    def phone(self) -> str:
        """A new phone number's hash."""
        self._phones += 1
        return self.world.ids.keyed("phone", self._phones, 32)

    def domain(self, rng: random.Random, stem: str = "") -> str:
        """A freshly registered domain (``3f9a01c2.xyz``), or an office's (``asso-3f9a01.fr``)."""
        self._domains += 1
        if stem:
            return f"{stem}-{self.world.ids.keyed('domain', self._domains, 6)}.fr"
        return f"{self.world.ids.keyed('domain', self._domains, 8)}.{rng.choice(THROWAWAY_TLDS)}"

    def free_mail(self, rng: random.Random) -> str:
        """A domain of the usual French free-mail mix."""
        return weighted(rng, FREE_MAIL)


class Infrastructure:
    """Builds and caches the kits of operations' units, and sets up each scalper account."""

    def __init__(self, world: World, identities: Identities, venues: list[Venue]) -> None:
        self.world = world
        self.identities = identities
        self.venues = venues
        self._kits: dict[tuple[str, str, str], Kit] = {}
        self._shared_phones: dict[str, list[str]] = {}
        self._domains: dict[str, list[str]] = {}
        self._device_pool: dict[str, list[Device]] = {}

    # ------------------------------------------------------------------ units
    @staticmethod
    def unit_of(op: Operation, position: int) -> int:
        """Which unit (person, phone, machine) drives the account at ``position`` in the operation."""
        st = op.structure
        units, watchers, size = int(st["units"]), int(st["watchers"]), op.size
        if units <= 1:
            return 0
        if st["watch"] == "clickers" or st.get("clicker_bookers"):
            return min(units - 1, position * units // max(1, size))
        if st["watch"] == "operator" and st["search_roles"] != "all_search":
            return 0 if position < watchers else 1 + (position - watchers) % (units - 1)
        return position % units

    def setup(self, op: Operation, account: Account, position: int) -> None:
        """Network, devices, e-mail, phone and role traits of the account at ``position``."""
        st = op.structure
        watchers, bookers = int(st["watchers"]), int(st["bookers"])
        traits = account.traits
        if position < watchers:
            traits["watcher"] = 1.0
            if st["watcher_books"]:
                traits["books"] = 1.0
            kind = str(st["infrastructure"]["watchers"])
        elif position < watchers + bookers:
            traits["booker"] = 1.0
            traits["books"] = 1.0
            if account.rng.random() < float(st["booker_search_share"]):
                traits["search_first"] = 1.0
            kind = str(st["infrastructure"]["bookers"])
        else:
            traits["idle"] = 1.0
            kind = str(st["infrastructure"]["bookers"])
        unit = self.unit_of(op, position)
        distributed = op.style == FARM and st.get("layout") == "distributed"
        if distributed and (not traits.get("watcher") or watchers >= op.size):
            unit = 1000 + position // 3  # one home / phone per three accounts at most
        account.group = f"{op.op_id}/unit-{unit}"
        account.net, account.devices = self._account_kit(op, account, position, unit, kind, distributed)
        account.email_domain = self._email(op, account)
        account.phone_hash = self._phone(op, account, position)

    # ------------------------------------------------------------------ kits
    def _account_kit(
        self, op: Operation, account: Account, position: int, unit: int, kind: str, distributed: bool
    ) -> tuple[NetProfile, list[Device]]:
        world, rng, traits = self.world, account.rng, op.traits
        ids = world.ids
        rotation = bool(op.structure["rotation"])
        if kind == "datacenter":
            kit = self._kit(op, "op", kind)
            net: NetProfile = kit.net
            if rotation and isinstance(net, FixedNet) and len(net.endpoints) > 1:
                net = FixedNet([net.endpoints[(position // 3) % len(net.endpoints)]])
            base = kit.devices[0]
            if traits.get("device_id") == "per_account" or distributed:
                return net, [Device(ids.make("dev"), base.user_agent)]
            return net, [base]
        if kind == "residential_proxy":
            net = self._kit(op, "op", kind).net
            if op.style == FARM and not distributed:
                return net, [self._pooled_device(op, rng)]
            if op.style == BOT_RESIDENTIAL and traits.get("fingerprint") == "rotating":
                return net, [Device(ids.make("dev"), rng.choice(DESKTOP_UAS)) for _ in range(rng.randint(5, 15))]
            if op.style == BOT_RESIDENTIAL or distributed:
                return net, [Device(ids.make("dev"), rng.choice(DESKTOP_UAS + ANDROID_UAS))]
            return net, self._kit(op, f"unit-{unit}", "person").devices
        if kind == "mobile_phones":
            phone = self._kit(op, f"unit-{unit}", kind)
            return phone.net, phone.devices
        if kind == "vpn":
            net = self._kit(op, "op", kind).net
            if op.style == FARM and not distributed:
                return net, [self._pooled_device(op, rng)]
            if op.style == FARM or traits.get("device_id") == "per_account":
                return net, [Device(ids.make("dev"), rng.choice(DESKTOP_UAS))]
            return net, self._kit(op, f"unit-{unit}", "person").devices
        if kind == "cyber_cafe":
            cafe = self._kit(op, f"unit-{unit}", kind)
            return cafe.net, [cafe.devices[position % len(cafe.devices)]]
        home = self._kit(op, f"unit-{unit}", kind)
        if op.style == FARM and not distributed:
            return home.net, [self._pooled_device(op, rng)]
        return home.net, home.devices

    def _pooled_device(self, op: Operation, rng: random.Random) -> Device:
        """One of a concentrated farm's shared emulator / handset fingerprints."""
        pool = self._device_pool.get(op.op_id)
        if pool is None:
            orng = op.rng
            pool = self._device_pool[op.op_id] = [
                Device(self.world.ids.make("dev"), orng.choice(EMULATOR_UAS + MOBILE_UAS), mobile=True)
                for _ in range(int(op.traits["devices"]))
            ]
        return pool[rng.randrange(len(pool))]

    def _kit(self, op: Operation, unit: str, kind: str) -> Kit:
        key = (op.op_id, unit, kind)
        kit = self._kits.get(key)
        if kit is None:
            kit = self._kits[key] = self._build(op, kind)
        return kit

    def _build(self, op: Operation, kind: str) -> Kit:
        world, rng, traits = self.world, op.rng, op.traits
        internet, ids = world.internet, world.ids
        if kind == "datacenter":
            asns = traits.get("datacenter_asns") or [16276]
            count = math.ceil(op.size / 3) if op.structure["rotation"] else rng.randint(1, 4)
            endpoints = [internet.datacenter(rng, rng.choice(asns)) for _ in range(max(1, count))]
            ua = rng.choice(BOT_UAS) if traits.get("user_agent") == "bot" else rng.choice(DESKTOP_UAS)
            device_id = ids.make("dev") if traits.get("device_id") != "missing" else None
            op.traits["ips"] = len(endpoints)
            return Kit(FixedNet(endpoints), [Device(device_id, ua)])
        if kind == "vpn":
            asn = rng.choice(sorted(VPN))
            exits = [internet.vpn_exit(rng, asn) for _ in range(rng.randint(5, 30))]
            op.traits["vpn_asn"] = asn
            return Kit(FixedNet(exits), [Device(ids.make("dev"), rng.choice(DESKTOP_UAS))])
        if kind == "residential_proxy":
            per_request = traits.get("proxy_rotation") == "per_request"
            return Kit(ProxyNet(internet, float(traits.get("mobile_proxy_share", 0.1)), per_request), [])
        if kind == "mobile_phones":
            carrier = internet.mobile_asn(rng)
            v6 = internet.mobile_v6_prefix(rng, carrier) if rng.random() < 0.15 else 0
            ua = rng.choice(ANDROID_UAS if rng.random() < 0.75 else MOBILE_UAS)
            return Kit(CarrierNet(internet, carrier, v6), [Device(ids.make("dev"), ua, mobile=True)])
        if kind == "cyber_cafe":
            local = [v for v in self.venues if v.site == op.site and v.kind == "cyber_cafe"]
            if local and rng.random() < 0.6:
                venue = local[rng.randrange(len(local))]
                op.traits.setdefault("shared_venues", []).append(venue.name)
                return Kit(FixedNet([venue.endpoint]), venue.pcs)
            pcs = [Device(ids.make("dev"), rng.choice(DESKTOP_UAS)) for _ in range(rng.randint(1, 3))]
            return Kit(FixedNet([internet.residential(rng)]), pcs)
        # a person's own home (or the devices of a person behind a proxy / VPN)
        devices = [Device(ids.make("dev"), rng.choice(DESKTOP_UAS))]
        if rng.random() < 0.5:
            devices.append(Device(ids.make("dev"), rng.choice(MOBILE_UAS), mobile=True))
        return Kit(FixedNet([internet.residential(rng)]), devices)

    def seller_kit(self, op: Operation) -> Kit | None:
        """The seller's own phone or PC for seller-operated handoffs (None: the holder's usual kit)."""
        mode = op.structure["seller_device"]
        world, rng = self.world, op.rng
        if mode == "seller_phone":
            carrier = world.internet.mobile_asn(rng)
            phone = Device(world.ids.make("dev"), rng.choice(MOBILE_UAS), mobile=True)
            return Kit(CarrierNet(world.internet, carrier), [phone])
        if mode == "seller_pc":
            pc = Device(world.ids.make("dev"), rng.choice(DESKTOP_UAS))
            return Kit(FixedNet([world.internet.residential(rng)]), [pc])
        return None

    # ------------------------------------------------------------------ identities
    def _email(self, op: Operation, account: Account) -> str:
        pattern, rng = op.structure["email"], account.rng
        if pattern in ("throwaway_domain", "several_domains"):
            domains = self._domains.get(op.op_id)
            if domains is None:
                count = 1 if pattern == "throwaway_domain" else op.rng.randint(2, 5)
                domains = self._domains[op.op_id] = [self.identities.domain(op.rng) for _ in range(count)]
                op.traits["email_domains"] = list(domains)
            return domains[rng.randrange(len(domains))]
        if pattern == "disposable":
            return rng.choice(DISPOSABLE_MAIL)
        if pattern == "fresh_webmail":
            return rng.choice(FRESH_WEBMAIL)
        return self.identities.free_mail(rng)

    def _phone(self, op: Operation, account: Account, position: int) -> str | None:
        pattern, rng = op.structure["phones"], account.rng
        if pattern == "none":
            return None
        if pattern == "shared":
            numbers = self._shared_phones.get(op.op_id)
            if numbers is None:
                size = op.size
                count = math.ceil(size / 3) if op.structure["rotation"] else op.rng.randint(2, 10)
                numbers = self._shared_phones[op.op_id] = [self.identities.phone() for _ in range(max(1, count))]
            if op.structure["rotation"]:
                return numbers[(position // 3) % len(numbers)]
            return numbers[rng.randrange(len(numbers))]
        if pattern == "some" and rng.random() < 0.5:
            return None
        return self.identities.phone()
