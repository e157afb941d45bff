"""The world's nouns: slots, bookings, devices, sessions, network profiles and accounts."""

from __future__ import annotations

import logging
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from simulator.network import Endpoint, Internet, v6_address

if TYPE_CHECKING:
    from simulator.operations import Operation

logger = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class Slot:
    """One appointment at one counter: released (free), then booked, maybe cancelled and re-released."""

    slot_id: str
    site: str
    service: str
    start: int
    released: int = -1
    free: bool = False
    #: who took it when it was first released at an opening ("scalper"/"legit"), for supply figures
    first_taker: str = ""
    from_opening: bool = False
    booking: Booking | None = None


@dataclass(eq=False, slots=True)
class Booking:
    """A booking of a slot by an account for an applicant; ``placeholder`` means nobody will come."""

    booking_id: str
    slot: Slot
    account: Account
    applicant: str
    created: int
    placeholder: bool
    attend_prob: float
    active: bool = True
    sold: bool = False


@dataclass(eq=False, slots=True)
class Device:
    """A browser or handset fingerprint (``device_id`` None: the front end could not compute one)."""

    device_id: str | None
    user_agent: str | None
    mobile: bool = False


@dataclass(eq=False, slots=True)
class Session:
    """A logged-in web session; ``rotating`` re-draws the address on every request (proxy pools)."""

    session_id: str
    endpoint: Endpoint
    device: Device
    started: int
    rotating: NetProfile | None = None


class NetProfile(ABC):
    """Where an account's requests come from; each role family has its own subclass."""

    rotates_per_request = False

    @abstractmethod
    def endpoint(self, rng: random.Random) -> Endpoint:
        """The address of a new session (or of one request, for rotating profiles)."""

    def is_mobile(self, rng: random.Random) -> bool:
        """Whether the next session is on a mobile network (decides which device is used)."""
        return False


class HomeNet(NetProfile):
    """A household on a fixed-line ISP (stable IPv4, sometimes IPv6), sometimes on the phone's carrier."""

    def __init__(self, internet: Internet, rng: random.Random, mobile_share: float, v6_share: float) -> None:
        self.internet = internet
        self.home = internet.residential(rng)
        self.v6_prefix = internet.residential_v6_prefix(rng, self.home.asn) if rng.random() < v6_share else 0
        self.carrier = internet.mobile_asn(rng)
        self.mobile_share = mobile_share
        self._next_mobile = False

    def is_mobile(self, rng: random.Random) -> bool:
        self._next_mobile = rng.random() < self.mobile_share
        return self._next_mobile

    def endpoint(self, rng: random.Random) -> Endpoint:
        if self._next_mobile:
            return self.internet.mobile_nat(rng, self.carrier)
        if self.v6_prefix and rng.random() < 0.5:
            return Endpoint(v6_address(rng, self.v6_prefix), self.home.asn)
        return self.home


class MobileNet(NetProfile):
    """A handset behind carrier-grade NAT (address from the carrier's small shared pool) or on IPv6."""

    def __init__(self, internet: Internet, rng: random.Random, v6_share: float, wifi_share: float) -> None:
        self.internet = internet
        self.carrier = internet.mobile_asn(rng)
        self.v6_prefix = internet.mobile_v6_prefix(rng, self.carrier) if rng.random() < v6_share else 0
        self.home = internet.residential(rng)
        self.wifi_share = wifi_share

    def is_mobile(self, rng: random.Random) -> bool:
        return True

    def endpoint(self, rng: random.Random) -> Endpoint:
        if rng.random() < self.wifi_share:
            return self.home
        if self.v6_prefix:
            return Endpoint(v6_address(rng, self.v6_prefix), self.carrier)
        return self.internet.mobile_nat(rng, self.carrier)


class CarrierNet(NetProfile):
    """One handset on its carrier, never on Wi-Fi: CGNAT addresses shared with every other subscriber."""

    def __init__(self, internet: Internet, carrier: int, v6_prefix: int = 0) -> None:
        self.internet = internet
        self.carrier = carrier
        self.v6_prefix = v6_prefix

    def is_mobile(self, rng: random.Random) -> bool:
        return True

    def endpoint(self, rng: random.Random) -> Endpoint:
        if self.v6_prefix and rng.random() < 0.5:
            return Endpoint(v6_address(rng, self.v6_prefix), self.carrier)
        return self.internet.mobile_nat(rng, self.carrier)


class VenueNet(NetProfile):
    """A shared place (public PC venue, a household's shared PC): its address, or sometimes the user's phone."""

    def __init__(self, internet: Internet, endpoint: Endpoint, rng: random.Random, phone_share: float) -> None:
        self.internet = internet
        self.place = endpoint
        self.carrier = internet.mobile_asn(rng)
        self.phone_share = phone_share
        self._next_mobile = False

    def is_mobile(self, rng: random.Random) -> bool:
        self._next_mobile = self.phone_share > 0 and rng.random() < self.phone_share
        return self._next_mobile

    def endpoint(self, rng: random.Random) -> Endpoint:
        if self._next_mobile:
            return self.internet.mobile_nat(rng, self.carrier)
        return self.place


class FixedNet(NetProfile):
    """A small set of fixed addresses (an office, a VPN exit, an operator's home, a bot's servers)."""

    def __init__(self, endpoints: list[Endpoint]) -> None:
        self.endpoints = endpoints

    def endpoint(self, rng: random.Random) -> Endpoint:
        return self.endpoints[rng.randrange(len(self.endpoints))]


class ProxyNet(NetProfile):
    """A rotating residential proxy pool: a different household (sometimes a phone) per request."""

    rotates_per_request = True

    def __init__(self, internet: Internet, mobile_share: float, per_request: bool = True) -> None:
        self.internet = internet
        self.mobile_share = mobile_share
        self.rotates_per_request = per_request

    def endpoint(self, rng: random.Random) -> Endpoint:
        if rng.random() < self.mobile_share:
            return self.internet.mobile_nat(rng, self.internet.mobile_asn(rng))
        return self.internet.residential(rng)


@dataclass(eq=False, slots=True)
class Kit:
    """What a person or a machine connects with: a network and the devices used on it."""

    net: NetProfile
    devices: list[Device]

    def pick(self, rng: random.Random) -> Device:
        """The device of a new session on this kit."""
        if len(self.devices) == 1:
            return self.devices[0]
        return self.devices[rng.randrange(len(self.devices))]


@dataclass(eq=False)
class Account:
    """One user account: its label, identity hashes, devices, network, session and bookings."""

    account_id: str
    role: str
    site: str
    rng: random.Random
    net: NetProfile
    devices: list[Device]
    email_hash: str
    email_domain: str
    phone_hash: str | None
    #: creation time inside the period, or None for accounts that existed before it
    created: int | None = None
    op: Operation | None = None
    session: Session | None = None
    bookings: list[Booking] = field(default_factory=list)
    login_failure_rate: float = 0.0
    #: set on a buyer once a purchase is delivered
    bought_from: str | None = None
    #: the operation a buyer paid (delivery may be pending)
    paid_op: str | None = None
    seen: bool = False
    #: the service this account needs (legit) or its first target (scalpers)
    service: str = ""
    #: (applicant, service) pairs still waiting for a booking (legit accounts)
    pending: list[tuple[str, str]] = field(default_factory=list)
    #: every applicant this account has booked or will book for
    applicants: list[str] = field(default_factory=list)
    #: per-account behaviour draws (reaction medians, periods, ...), inside the world's ranges
    traits: dict[str, float] = field(default_factory=dict)
    #: the office, venue, household (legit) or operator / clicker / phone (scalpers) this account belongs to
    group: str = ""
    #: buyers: the scalper accounts that attempted or made the delivery, in order
    sellers: list[str] = field(default_factory=list)
    #: buyers: how the slot was delivered (``none`` until it is)
    delivered_by: str = "none"
    #: buyers: ``double_sold`` / ``nonexistent_slot`` when the seller scammed them
    scam: str | None = None

    def active_bookings(self) -> int:
        """Bookings not cancelled."""
        return sum(1 for b in self.bookings if b.active)

    def pick_device(self) -> Device:
        """The device for a new session: a handset when on a mobile network, else the first device."""
        mobile = self.net.is_mobile(self.rng)
        if len(self.devices) == 1:
            return self.devices[0]
        matching = [d for d in self.devices if d.mobile == mobile] or self.devices
        return matching[self.rng.randrange(len(matching))]
