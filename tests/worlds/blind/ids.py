"""Seeded randomness and opaque identifiers.

Every component draws from its own stream derived from (seed, name), so adding draws in one part of
the world never shifts another part. Identifiers are random tokens: nothing in them encodes a role.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

_B32 = "abcdefghijklmnopqrstuvwxyz234567"


def derive(seed: int | str, *names: object) -> random.Random:
    """An independent random stream for ``names`` under ``seed``."""
    digest = hashlib.sha256(repr((seed, *names)).encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


class Mint:
    """Issues unique random tokens of several shapes from one stream."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._seen: set[str] = set()

    def hex(self, chars: int) -> str:
        """A lowercase hex token of ``chars`` characters (hash-like)."""
        while True:
            token = format(self._rng.getrandbits(chars * 4), f"0{chars}x")
            if token not in self._seen:
                self._seen.add(token)
                return token

    def b32(self, chars: int) -> str:
        """A lowercase base-32 token (session-cookie-like)."""
        while True:
            bits = self._rng.getrandbits(chars * 5)
            token = "".join(_B32[(bits >> (5 * i)) & 31] for i in range(chars))
            if token not in self._seen:
                self._seen.add(token)
                return token

    def uuid(self) -> str:
        """A random version-4 UUID string."""
        while True:
            h = format(self._rng.getrandbits(128), "032x")
            token = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"
            if token not in self._seen:
                self._seen.add(token)
                return token


def weighted(rng: random.Random, options: dict[T, float]) -> T:
    """One key of ``options`` drawn with probability proportional to its weight."""
    keys = list(options)
    return rng.choices(keys, weights=[options[k] for k in keys], k=1)[0]


def lognormal_ms(rng: random.Random, median_s: float, sigma: float, lo_s: float = 0.05, hi_s: float = 1e9) -> int:
    """A log-normal duration with the given median (seconds), clipped, in milliseconds."""
    value = median_s * math.exp(rng.gauss(0.0, sigma))
    return int(1000 * min(max(value, lo_s), hi_s))


def pick(rng: random.Random, items: Sequence[T]) -> T:
    """A uniformly random element of a non-empty sequence."""
    return items[rng.randrange(len(items))]
