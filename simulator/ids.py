"""Pseudonymous identifiers: keyed hashes of (seed, kind, index), so ids carry no role or order.

Every id the simulator writes (accounts, devices, applicants, sessions, bookings, slots, events,
e-mail and phone hashes) is ``prefix + hex(BLAKE2b(kind:index, key=seed))``. The index is a
counter, but the keyed hash hides it: two worlds with different seeds share no ids, and sorting
ids says nothing about when or to whom they were issued. Account indices are additionally
shuffled before hashing, so the n-th account of a role is not the n-th id.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Final

logger = logging.getLogger(__name__)

#: hex digits in a pseudonymous id (64 bits: collisions are negligible at simulator scale)
ID_HEX_DIGITS: Final = 16


class IdMint:
    """Issues keyed-hash ids per kind; a counter per kind makes every id unique and reproducible."""

    def __init__(self, seed: int) -> None:
        self._key = hashlib.blake2b(f"slotguard-simulator:{seed}".encode(), digest_size=32).digest()
        self._counters: dict[str, int] = {}

    def keyed(self, kind: str, index: int, digits: int = ID_HEX_DIGITS) -> str:
        """The keyed hash of ``kind:index`` as ``digits`` hex characters."""
        data = f"{kind}:{index}".encode()
        return hashlib.blake2b(data, key=self._key, digest_size=(digits + 1) // 2).hexdigest()[:digits]

    def make(self, prefix: str, digits: int = ID_HEX_DIGITS) -> str:
        """A fresh id ``prefix-<hex>`` of the given kind (the prefix doubles as the kind)."""
        index = self._counters.get(prefix, 0)
        self._counters[prefix] = index + 1
        return f"{prefix}-{self.keyed(prefix, index, digits)}"

    def issued(self, prefix: str) -> int:
        """How many ids of this kind were issued so far."""
        return self._counters.get(prefix, 0)
