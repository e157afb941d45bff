"""Network and client infrastructure: address plans, carrier NAT pools, proxies, user agents, e-mail domains.

Address plans are plausible public ranges of the named networks (first octet, range of second octets),
good enough for a simulator: nothing here is used to contact anyone.
"""

from __future__ import annotations

import ipaddress
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _q

from .clock import MINUTE
from .ids import Mint, pick, weighted

V4Plan = list[tuple[int, int, int]]

# asn -> (name, IPv4 plan, IPv6 network or "")
RESIDENTIAL_FR: dict[int, tuple[str, V4Plan, str]] = {
    3215: ("Orange", [(90, 0, 127), (86, 192, 255), (92, 128, 170), (2, 0, 15), (81, 48, 63)], "2a01:cb00::/24"),
    12322: ("Free", [(82, 64, 67), (88, 160, 191), (78, 192, 255), (82, 228, 255)], "2a01:e00::/26"),
    15557: ("SFR", [(77, 128, 159), (93, 0, 31), (109, 208, 223), (84, 96, 103)], "2a02:8400::/24"),
    5410: ("Bouygues Telecom", [(176, 128, 159), (89, 80, 95), (5, 48, 51)], "2001:861::/32"),
}
RESIDENTIAL_WEIGHTS = {3215: 40, 12322: 25, 15557: 20, 5410: 15}
RESIDENTIAL_ABROAD: dict[int, tuple[str, V4Plan, str]] = {
    3320: ("Deutsche Telekom", [(79, 192, 255), (87, 128, 191), (91, 0, 63)], "2003::/19"),
    3352: ("Telefonica de Espana", [(83, 32, 63), (88, 0, 31)], ""),
    5432: ("Proximus", [(81, 240, 255), (91, 176, 183)], ""),
    6830: ("Liberty Global", [(84, 24, 31), (62, 194, 195)], ""),
    9121: ("Turk Telekom", [(78, 160, 191), (88, 224, 255)], ""),
    36903: ("Maroc Telecom", [(105, 128, 191), (41, 248, 251)], ""),
    7922: ("Comcast", [(73, 0, 255), (24, 0, 63)], "2601::/20"),
}
# mobile carriers: public CGNAT ranges and IPv6 networks
MOBILE_FR: dict[int, tuple[str, V4Plan, str]] = {
    51207: ("Free Mobile", [(37, 160, 175)], "2a0d:e480::/29"),
    3215: ("Orange", [(92, 184, 191), (90, 84, 84)], "2a01:cb1c::/32"),
    15557: ("SFR", [(80, 214, 215), (109, 220, 223)], "2a02:8440::/28"),
    5410: ("Bouygues Telecom", [(176, 160, 191)], "2001:861:3000::/36"),
}
MOBILE_WEIGHTS = {51207: 22, 3215: 38, 15557: 20, 5410: 20}
DATACENTRE: dict[int, tuple[str, V4Plan, str]] = {
    16276: ("OVH", [(51, 68, 91), (54, 36, 39), (137, 74, 74), (145, 239, 239), (5, 135, 135)], "2001:41d0::/32"),
    12876: ("Scaleway", [(51, 15, 15), (51, 158, 159), (163, 172, 172), (212, 83, 83), (62, 210, 210)], ""),
    24940: ("Hetzner", [(78, 46, 47), (95, 216, 217), (116, 202, 203), (5, 9, 9), (88, 99, 99)], "2a01:4f8::/29"),
    14061: ("DigitalOcean", [(138, 68, 68), (159, 89, 89), (167, 99, 99), (165, 22, 22), (46, 101, 101)], ""),
    16509: ("Amazon", [(3, 248, 255), (13, 36, 39), (15, 236, 237), (35, 180, 181), (52, 47, 47)], ""),
    51167: ("Contabo", [(5, 189, 189), (161, 97, 97), (207, 180, 180), (173, 212, 212)], ""),
    63949: ("Akamai Linode", [(172, 104, 105), (139, 162, 162), (45, 79, 79)], ""),
}
VPN: dict[int, tuple[str, V4Plan, str]] = {
    9009: ("M247", [(185, 94, 94), (89, 40, 40), (146, 70, 70), (37, 120, 120)], ""),
    60068: ("Datacamp", [(185, 236, 236), (89, 187, 187), (156, 146, 146), (143, 244, 244)], ""),
    62240: ("Clouvider", [(45, 137, 137), (91, 245, 245)], ""),
    60781: ("Leaseweb", [(5, 79, 79), (37, 48, 48), (212, 32, 32)], ""),
    136787: ("TEFINCOM", [(185, 203, 203), (194, 110, 110)], ""),
    39351: ("31173 Services", [(193, 138, 138), (45, 83, 83)], ""),
}
BUSINESS_FR: dict[int, tuple[str, V4Plan, str]] = {
    3215: ("Orange Business", [(193, 248, 253), (194, 2, 6), (80, 12, 15)], ""),
    8228: ("SFR Business", [(62, 39, 39), (80, 118, 118), (217, 108, 108)], ""),
    5410: ("Bouygues Telecom Entreprises", [(62, 161, 161), (213, 30, 31)], ""),
    2200: ("RENATER", [(193, 48, 55), (194, 57, 57), (195, 83, 83)], ""),
    34177: ("Celeste", [(217, 112, 113), (81, 255, 255)], ""),
    12670: ("Completel", [(89, 226, 226), (213, 56, 56)], ""),
}


def v4_in(rng: random.Random, plan: V4Plan) -> str:
    """A random host address inside one of the plan's ranges."""
    first, lo, hi = pick(rng, plan)
    return f"{first}.{rng.randint(lo, hi)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def v6_prefix(rng: random.Random, network: str) -> int:
    """A random /64 inside ``network`` (as the integer value of its first address)."""
    net = ipaddress.IPv6Network(network)
    spare = 64 - net.prefixlen
    return int(net.network_address) | (rng.getrandbits(spare) << 64)


def v6_host(rng: random.Random, prefix64: int) -> str:
    """A privacy-extension style address inside a /64."""
    return str(ipaddress.IPv6Address(prefix64 | rng.getrandbits(64)))


_KHTML = "AppleWebKit/537.36 (KHTML, like Gecko)"
_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"
_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)"

Lease = tuple[str, int, int]  # ip, asn, valid until (UTC ms)
FOREVER = 1 << 62


class Net(ABC):
    """Where a client's traffic appears to come from; ``lease`` gives an address valid for a while.

    Abstract: every kind of network (fixed, pooled, carrier, proxy...) says how it leases addresses.
    """

    kind = "net"

    @abstractmethod
    def lease(self, now: int, rng: random.Random) -> Lease:
        """An (ip, asn, valid-until) lease for a request at ``now``."""


@dataclass
class FixedNet(Net):
    """A stable address: home broadband, an office, a cyber-café, a rented server."""

    ip: str
    asn: int
    kind: str = "fixed"

    def lease(self, now: int, rng: random.Random) -> Lease:
        return self.ip, self.asn, FOREVER


@dataclass
class HomeV6Net(Net):
    """Home broadband with IPv6: one /64, a new temporary address now and then, IPv4 sometimes."""

    prefix64: int
    asn: int
    v4: str
    v4_share: float
    kind: str = "home-v6"

    def lease(self, now: int, rng: random.Random) -> Lease:
        if rng.random() < self.v4_share:
            return self.v4, self.asn, now + 6 * 60 * MINUTE
        return v6_host(rng, self.prefix64), self.asn, now + rng.randint(30, 600) * MINUTE


@dataclass
class PoolNet(Net):
    """A small set of addresses used in turn (servers, VPN exits); each lease lasts ``hold_ms``."""

    addresses: list[tuple[str, int]]
    hold_ms: tuple[int, int]
    kind: str = "pool"

    def lease(self, now: int, rng: random.Random) -> Lease:
        ip, asn = pick(rng, self.addresses)
        return ip, asn, now + rng.randint(*self.hold_ms)


@dataclass
class ProxyNet(Net):
    """A rotating residential proxy service: a fresh home address per request or per sticky period."""

    networks: dict[int, tuple[str, V4Plan, str]]
    weights: dict[int, float]
    sticky_ms: tuple[int, int]
    kind: str = "residential-proxy"

    def lease(self, now: int, rng: random.Random) -> Lease:
        asn = weighted(rng, self.weights)
        ip = v4_in(rng, self.networks[asn][1])
        lo, hi = self.sticky_ms
        return ip, asn, now + (rng.randint(lo, hi) if hi > 0 else 0)


@dataclass
class CarrierPool:
    """The public IPv4 addresses of one carrier's NAT as seen by one prefecture: few, shared by many."""

    asn: int
    addresses: list[str]
    v6_network: str


@dataclass
class CarrierNet(Net):
    """A phone on a mobile network: a carrier-NAT address for a while, or its own IPv6 /64."""

    pool: CarrierPool
    v6_share: float
    prefix64: int
    kind: str = "mobile"

    def lease(self, now: int, rng: random.Random) -> Lease:
        until = now + rng.randint(8, 90) * MINUTE
        if self.prefix64 and rng.random() < self.v6_share:
            return v6_host(rng, self.prefix64), self.pool.asn, until
        return pick(rng, self.pool.addresses), self.pool.asn, until


@dataclass
class Device:
    """A browser or app instance; ``device_id`` is the front end's fingerprint hash, ``ua`` its User-Agent."""

    device_id: str
    ua: str
    kind: str
    ua_json: str = ""

    def __post_init__(self) -> None:
        self.ua_json = _q(self.ua)


@dataclass
class Infra:
    """Shared infrastructure of one world: carrier pools, a mint for device ids, the date for UA versions."""

    rng: random.Random
    mint: Mint
    year: int
    month: int
    carriers: dict[int, CarrierPool] = field(default_factory=dict)

    # ---- addresses -------------------------------------------------------------------------------
    def carrier(self, asn: int | None = None) -> CarrierPool:
        """A carrier's NAT pool (created on first use, a handful of addresses per carrier)."""
        if asn is None:
            asn = weighted(self.rng, MOBILE_WEIGHTS)
        if asn not in self.carriers:
            _, plan, v6 = MOBILE_FR[asn]
            n = self.rng.randint(3, 14)
            self.carriers[asn] = CarrierPool(asn, [v4_in(self.rng, plan) for _ in range(n)], v6)
        return self.carriers[asn]

    def mobile_net(self, asn: int | None = None) -> CarrierNet:
        """A phone's network attachment (IPv6 share depends on the carrier and the handset)."""
        pool = self.carrier(asn)
        v6_share = self.rng.choice([0.0, 0.0, 0.3, 0.6, 0.9]) if pool.v6_network else 0.0
        prefix = v6_prefix(self.rng, pool.v6_network) if v6_share else 0
        return CarrierNet(pool, v6_share, prefix)

    def home_net(self) -> Net:
        """A household's broadband line."""
        asn = weighted(self.rng, RESIDENTIAL_WEIGHTS)
        _, plan, v6 = RESIDENTIAL_FR[asn]
        v4 = v4_in(self.rng, plan)
        if v6 and self.rng.random() < 0.45:
            return HomeV6Net(v6_prefix(self.rng, v6), asn, v4, self.rng.uniform(0.05, 0.5))
        return FixedNet(v4, asn)

    def office_net(self) -> FixedNet:
        """A business line (association office, law firm, library, agency)."""
        asn = self.rng.choice(list(BUSINESS_FR))
        return FixedNet(v4_in(self.rng, BUSINESS_FR[asn][1]), asn)

    def hosted(self, table: dict[int, tuple[str, V4Plan, str]], n: int, asns: int = 1) -> list[tuple[str, int]]:
        """``n`` addresses in ``asns`` hosting or VPN networks."""
        chosen = self.rng.sample(list(table), k=min(asns, len(table)))
        return [(v4_in(self.rng, table[a][1]), a) for a in (self.rng.choice(chosen) for _ in range(n))]

    def vpn_net(self) -> PoolNet:
        """A consumer VPN: an exit address among a few, changing per connection."""
        return PoolNet(self.hosted(VPN, self.rng.randint(3, 12), 1), (20 * MINUTE, 240 * MINUTE))

    def proxy_net(self, abroad_share: float, sticky_ms: tuple[int, int]) -> ProxyNet:
        """A residential proxy service restricted to mostly French exits."""
        nets = dict(RESIDENTIAL_FR)
        weights: dict[int, float] = {a: w * (1 - abroad_share) for a, w in RESIDENTIAL_WEIGHTS.items()}
        if abroad_share > 0:
            for asn in self.rng.sample(list(RESIDENTIAL_ABROAD), k=3):
                nets[asn] = RESIDENTIAL_ABROAD[asn]
                weights[asn] = 100 * abroad_share / 3
        return ProxyNet(nets, weights, sticky_ms)

    # ---- clients -------------------------------------------------------------------------------
    def _chrome(self) -> int:
        months = (self.year - 2024) * 12 + self.month - 1
        return 120 + int(months * 0.9) - self.rng.choice([0, 0, 0, 1, 1, 2, 3, 5])

    def desktop_ua(self) -> str:
        """A common desktop browser of the period."""
        cv = self._chrome()
        fv = cv + 1 - self.rng.randint(0, 4)
        kind = weighted(
            self.rng, {"chrome": 48, "edge": 14, "firefox": 14, "mac-chrome": 9, "safari": 8, "old": 4, "linux": 3}
        )
        if kind == "chrome":
            return f"{_WIN} {_KHTML} Chrome/{cv}.0.0.0 Safari/537.36"
        if kind == "edge":
            build = f"{self.rng.randint(2000, 3200)}.{self.rng.randint(10, 150)}"
            return f"{_WIN} {_KHTML} Chrome/{cv}.0.0.0 Safari/537.36 Edg/{cv}.0.{build}"
        if kind == "firefox":
            return f"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{fv}.0) Gecko/20100101 Firefox/{fv}.0"
        if kind == "mac-chrome":
            return f"{_MAC} {_KHTML} Chrome/{cv}.0.0.0 Safari/537.36"
        if kind == "safari":
            sv = self.rng.choice(["17.4.1", "17.6", "18.0", "18.1", "18.3", "18.5"])
            return f"{_MAC} AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{sv} Safari/605.1.15"
        if kind == "old":
            return f"Mozilla/5.0 (Windows NT 6.1; Win64; x64) {_KHTML} Chrome/109.0.0.0 Safari/537.36"
        return f"Mozilla/5.0 (X11; Linux x86_64; rv:{fv}.0) Gecko/20100101 Firefox/{fv}.0"

    def mobile_ua(self, platform: str | None = None) -> str:
        """A common phone browser of the period (``android`` or ``ios``, or drawn)."""
        platform = platform or weighted(self.rng, {"android": 62, "ios": 38})
        cv = self._chrome()
        if platform == "ios":
            major = self.rng.choice([16, 17, 17, 18, 18, 18])
            minor = self.rng.randint(0, 6)
            return (
                f"Mozilla/5.0 (iPhone; CPU iPhone OS {major}_{minor} like Mac OS X) AppleWebKit/605.1.15 "
                f"(KHTML, like Gecko) Version/{major}.{minor} Mobile/15E148 Safari/604.1"
            )
        if self.rng.random() < 0.25:
            model = self.rng.choice(["A536B", "A546B", "A156B", "S911B", "A256B", "G991B", "A137F"])
            android = self.rng.choice([12, 13, 14, 14, 15])
            return (
                f"Mozilla/5.0 (Linux; Android {android}; SM-{model}) AppleWebKit/537.36 (KHTML, like Gecko) "
                f"SamsungBrowser/{self.rng.randint(23, 28)}.0 Chrome/{cv - 8}.0.0.0 Mobile Safari/537.36"
            )
        return f"Mozilla/5.0 (Linux; Android 10; K) {_KHTML} Chrome/{cv}.0.0.0 Mobile Safari/537.36"

    def headless_ua(self) -> str:
        """An automation client that does not hide itself."""
        cv = self._chrome()
        return weighted(
            self.rng,
            {
                f"Mozilla/5.0 (X11; Linux x86_64) {_KHTML} HeadlessChrome/{cv}.0.0.0 Safari/537.36": 5,
                f"python-requests/2.{self.rng.choice([28, 31, 32])}.{self.rng.randint(0, 3)}": 2,
                f"okhttp/4.{self.rng.randint(9, 12)}.0": 1,
                "Go-http-client/2.0": 1,
                f"axios/1.{self.rng.randint(6, 8)}.{self.rng.randint(0, 7)}": 1,
            },
        )

    def device(self, kind: str, ua: str | None = None) -> Device:
        """A new device of ``kind`` (``desktop``, ``phone`` or ``script``)."""
        if ua is None:
            ua = self.mobile_ua() if kind == "phone" else self.desktop_ua()
        return Device(self.mint.hex(40), ua, kind)


COMMON_MAIL = {
    "gmail.com": 30,
    "hotmail.fr": 12,
    "hotmail.com": 6,
    "yahoo.fr": 7,
    "outlook.fr": 6,
    "outlook.com": 4,
    "orange.fr": 6,
    "free.fr": 4,
    "sfr.fr": 3,
    "laposte.net": 3,
    "icloud.com": 4,
    "live.fr": 3,
    "wanadoo.fr": 2,
    "yahoo.com": 2,
    "gmx.fr": 1,
    "proton.me": 1,
}
DISPOSABLE_MAIL = [
    "yopmail.com",
    "yopmail.fr",
    "mailinator.com",
    "guerrillamail.com",
    "10minutemail.com",
    "temp-mail.org",
    "trashmail.com",
    "sharklasers.com",
    "jetable.org",
    "getnada.com",
    "maildrop.cc",
    "dispostable.com",
]
_SYL = ["ka", "zo", "mi", "tra", "vel", "nor", "qua", "lix", "pre", "rdv", "ser", "fa", "bo", "xen", "ly", "mo"]


def fresh_domain(rng: random.Random) -> str:
    """A newly registered, meaningless domain of the kind bought to create accounts."""
    body = "".join(rng.choice(_SYL) for _ in range(rng.randint(2, 3)))
    if rng.random() < 0.5:
        body += str(rng.randint(1, 99))
    return f"{body}.{rng.choice(['com', 'fr', 'net', 'xyz', 'online', 'site', 'top', 'shop'])}"


def org_domain(rng: random.Random) -> str:
    """A small organisation's own domain (association, law firm, agency)."""
    word = "".join(rng.choice(_SYL) for _ in range(2))
    return rng.choice(
        [
            f"asso-{word}.org",
            f"{word}-solidarite.fr",
            f"cabinet-{word}.fr",
            f"{word}-conseil.fr",
            f"{word}.org",
            f"{word}-avocats.fr",
        ]
    )
