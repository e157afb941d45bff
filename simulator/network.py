"""Where requests come from: French ISPs, mobile carriers behind CGNAT, data centres, user agents.

Addresses are drawn from real-looking prefixes of each autonomous system, so ``asn`` is always
consistent with ``ip`` (the same prefix always maps to the same ASN). The prefixes are
representative of each network's public space, not an authoritative registry extract.
"""

from __future__ import annotations

import ipaddress
import logging
import random
from dataclasses import dataclass
from typing import Final

logger = logging.getLogger(__name__)

#: fixed-line residential / small-business ISPs: ASN -> (name, IPv4 prefixes, IPv6 prefixes)
RESIDENTIAL: Final[dict[int, tuple[str, tuple[str, ...], tuple[str, ...]]]] = {
    3215: ("Orange", ("90.0.0.0/10", "86.192.0.0/11", "2.0.0.0/12"), ("2a01:cb00::/24",)),
    12322: ("Free", ("82.64.0.0/10", "78.192.0.0/10", "88.160.0.0/11"), ("2a01:e00::/26",)),
    15557: ("SFR", ("77.192.0.0/11", "109.208.0.0/12", "93.0.0.0/13"), ("2a02:8400::/26",)),
    5410: ("Bouygues Telecom", ("176.128.0.0/11", "89.80.0.0/13"), ("2001:861::/32",)),
}

#: mobile carriers: ASN -> (name, CGNAT public IPv4 prefixes, IPv6 prefixes)
MOBILE: Final[dict[int, tuple[str, tuple[str, ...], tuple[str, ...]]]] = {
    3215: ("Orange Mobile", ("92.184.96.0/19", "90.84.128.0/18"), ("2a01:cd00::/28",)),
    15557: ("SFR Mobile", ("80.215.0.0/16",), ("2a02:8440::/29",)),
    5410: ("Bouygues Mobile", ("176.166.0.0/16",), ("2001:861:4000::/36",)),
    51207: ("Free Mobile", ("37.160.0.0/12",), ("2a04:cec0::/29",)),
}

#: hosting / cloud networks: ASN -> (name, IPv4 prefixes)
DATACENTER: Final[dict[int, tuple[str, tuple[str, ...]]]] = {
    16276: ("OVH", ("51.38.0.0/16", "54.36.0.0/16", "145.239.0.0/16", "51.77.0.0/16")),
    24940: ("Hetzner", ("88.198.0.0/16", "116.202.0.0/16", "65.21.0.0/16", "95.216.0.0/16")),
    16509: ("Amazon AWS", ("13.36.0.0/14", "15.236.0.0/15", "35.180.0.0/16")),
    14061: ("DigitalOcean", ("164.90.0.0/16", "167.99.0.0/16", "138.68.0.0/16")),
    12876: ("Scaleway", ("51.15.0.0/16", "163.172.0.0/16", "62.210.0.0/16")),
    396982: ("Google Cloud", ("34.155.0.0/16", "34.163.0.0/16")),
    8075: ("Microsoft Azure", ("20.19.0.0/16", "20.74.0.0/16", "51.103.0.0/16")),
    51167: ("Contabo", ("161.97.0.0/16", "173.212.192.0/18", "207.180.192.0/18")),
}

#: commercial VPN exit networks: ASN -> (name, IPv4 prefixes)
VPN: Final[dict[int, tuple[str, tuple[str, ...]]]] = {
    9009: ("M247", ("146.70.0.0/16", "37.120.128.0/17")),
    60068: ("Datacamp", ("89.187.160.0/19", "138.199.0.0/17")),
    60781: ("Leaseweb", ("37.48.64.0/18", "5.79.64.0/18")),
}

#: market shares of fixed-line ISPs (Orange, Free, SFR, Bouygues)
RESIDENTIAL_SHARE: Final = {3215: 0.40, 12322: 0.23, 15557: 0.20, 5410: 0.17}
#: market shares of mobile carriers
MOBILE_SHARE: Final = {3215: 0.38, 15557: 0.24, 5410: 0.20, 51207: 0.18}

DESKTOP_UAS: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/121.0.0.0 Safari/537.36 Edg/121.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.3 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.0.0 Safari/537.36 OPR/105.0.0.0",
    "Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Safari/537.36",
)

MOBILE_UAS: Final = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.3 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/121.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 12; Redmi Note 11) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 11; SM-A125F) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/118.0.0.0 Mobile Safari/537.36",
)

#: user agents of scripted clients (the honest ones; many bots copy a browser UA instead)
BOT_UAS: Final = (
    "python-requests/2.31.0",
    "python-requests/2.28.2",
    "Go-http-client/1.1",
    "Go-http-client/2.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.6099.109 Safari/537.36",
    "axios/1.6.7",
)

#: Android emulator / device-farm user agents
EMULATOR_UAS: Final = (
    "Mozilla/5.0 (Linux; Android 11; sdk_gphone_x86) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/91.0.4472.114 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 9; SM-G973N Build/PPR1.190810.011) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/92.0.4515.131 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 7.1.2; SM-G977N) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/75.0.3770.143 Mobile Safari/537.36",
)


def _ranges(prefixes: tuple[str, ...]) -> tuple[tuple[int, int, int], ...]:
    """(first address, size, version) per prefix, for fast uniform draws."""
    out = []
    for text in prefixes:
        net = ipaddress.ip_network(text)
        out.append((int(net.network_address), net.num_addresses, net.version))
    return tuple(out)


def _v4_text(value: int) -> str:
    return f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"


def _draw_v4(rng: random.Random, ranges: tuple[tuple[int, int, int], ...]) -> str:
    first, size, _ = ranges[rng.randrange(len(ranges))]
    while True:
        value = first + rng.randrange(size)
        if 0 < value & 255 < 255:
            return _v4_text(value)


def _draw_v6_prefix(rng: random.Random, ranges: tuple[tuple[int, int, int], ...]) -> int:
    """A random /64 inside one of the IPv6 prefixes, as an integer with a zero interface id."""
    first, size, _ = ranges[rng.randrange(len(ranges))]
    return first + (rng.randrange(max(1, size >> 64)) << 64)


def v6_address(rng: random.Random, prefix64: int) -> str:
    """A privacy-extension address inside a /64 (a new interface id per session)."""
    return ipaddress.IPv6Address(prefix64 | rng.getrandbits(64) | 1).compressed


@dataclass(frozen=True)
class Endpoint:
    """One client address as the booking front end sees it."""

    ip: str
    asn: int


def _weighted(rng: random.Random, shares: dict[int, float]) -> int:
    keys = list(shares)
    return rng.choices(keys, weights=[shares[k] for k in keys])[0]


class Internet:
    """The address space of one world: ISP and data-centre prefixes, plus per-carrier CGNAT pools.

    Mobile carriers put many subscribers behind a few public IPv4 addresses; each world draws a
    small pool per carrier (size recorded in world.json), shared by every mobile user of that
    carrier (and by the residential proxies that exit through mobile phones).
    """

    def __init__(self, rng: random.Random, cgnat_pool_range: tuple[int, int]) -> None:
        self._res4 = {asn: _ranges(v[1]) for asn, v in RESIDENTIAL.items()}
        self._res6 = {asn: _ranges(v[2]) for asn, v in RESIDENTIAL.items()}
        self._mob4 = {asn: _ranges(v[1]) for asn, v in MOBILE.items()}
        self._mob6 = {asn: _ranges(v[2]) for asn, v in MOBILE.items()}
        self._dc4 = {asn: _ranges(v[1]) for asn, v in DATACENTER.items()}
        self._vpn4 = {asn: _ranges(v[1]) for asn, v in VPN.items()}
        self.cgnat_pools: dict[int, tuple[str, ...]] = {}
        for asn in MOBILE:
            size = rng.randint(*cgnat_pool_range)
            self.cgnat_pools[asn] = tuple(_draw_v4(rng, self._mob4[asn]) for _ in range(size))

    def residential_asn(self, rng: random.Random) -> int:
        """A fixed-line ISP, by market share."""
        return _weighted(rng, RESIDENTIAL_SHARE)

    def mobile_asn(self, rng: random.Random) -> int:
        """A mobile carrier, by market share."""
        return _weighted(rng, MOBILE_SHARE)

    def residential(self, rng: random.Random, asn: int | None = None) -> Endpoint:
        """A household's public IPv4 address on a fixed-line ISP."""
        asn = self.residential_asn(rng) if asn is None else asn
        return Endpoint(_draw_v4(rng, self._res4[asn]), asn)

    def residential_v6_prefix(self, rng: random.Random, asn: int) -> int:
        """A household's delegated IPv6 /64."""
        return _draw_v6_prefix(rng, self._res6[asn])

    def mobile_nat(self, rng: random.Random, asn: int) -> Endpoint:
        """A CGNAT address from the carrier's shared pool."""
        pool = self.cgnat_pools[asn]
        return Endpoint(pool[rng.randrange(len(pool))], asn)

    def mobile_v6_prefix(self, rng: random.Random, asn: int) -> int:
        """A handset's IPv6 /64 on a mobile carrier."""
        return _draw_v6_prefix(rng, self._mob6[asn])

    def datacenter(self, rng: random.Random, asn: int | None = None) -> Endpoint:
        """A server address in a hosting network."""
        asn = rng.choice(list(DATACENTER)) if asn is None else asn
        return Endpoint(_draw_v4(rng, self._dc4[asn]), asn)

    def vpn_exit(self, rng: random.Random, asn: int) -> Endpoint:
        """An exit address of a commercial VPN (shared by the provider's many customers)."""
        return Endpoint(_draw_v4(rng, self._vpn4[asn]), asn)
