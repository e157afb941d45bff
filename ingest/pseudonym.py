"""Keyed pseudonyms for the one direct identifier the contract carries in the clear: the client IP.

Account, device, applicant and e-mail ids already arrive as keyed hashes. IP addresses do not, so
they are replaced by a keyed BLAKE2b digest before they are stored or used as state keys. The
network prefix (/24 for IPv4, /48 for IPv6) gets its own pseudonym, so rotating addresses inside
one network can still be linked without keeping the addresses.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Final

_CACHE_MAX: Final = 1 << 17


class Pseudonymizer:
    """Maps IP addresses to stable keyed pseudonyms (``ip:`` + 16 hex digits)."""

    def __init__(self, key: str) -> None:
        self._key = hashlib.blake2b(key.encode(), digest_size=32).digest()
        self._ips: dict[str, str] = {}
        self._nets: dict[str, str] = {}

    @property
    def known_ips(self) -> dict[str, str]:
        """The cache of pseudonyms already computed (read-only use: a hit saves a call)."""
        return self._ips

    def _digest(self, prefix: str, text: str) -> str:
        return prefix + hashlib.blake2b(text.encode(), key=self._key, digest_size=8).hexdigest()

    def ip(self, ip: str) -> str:
        """Pseudonym of one address."""
        known = self._ips.get(ip)
        if known is None:
            if len(self._ips) >= _CACHE_MAX:
                self._ips.clear()  # clear in place: readers holding known_ips stay in sync
            known = self._ips[ip] = self._digest("ip:", ip)
        return known

    def network(self, ip: str) -> str:
        """Pseudonym of the address's network: its /24 (IPv4) or /48 (IPv6)."""
        known = self._nets.get(ip)
        if known is None:
            if len(self._nets) >= _CACHE_MAX:
                self._nets.clear()
            try:
                addr = ipaddress.ip_address(ip)
                bits = 24 if addr.version == 4 else 48
                text = str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))
            except ValueError:
                text = ip
            known = self._nets[ip] = self._digest("net:", text)
        return known

    def redact(self, raw: str, ip: str | None) -> str:
        """The raw JSON line with the address replaced by its pseudonym (for storage)."""
        if not ip:
            return raw
        return raw.replace(f'"{ip}"', f'"{self.ip(ip)}"')
