"""Dead letters: input lines that failed the contract, kept whole with the reason."""

from __future__ import annotations

from msgspec import Struct


class DeadLetter(Struct, frozen=True):
    """One rejected input line: where it came from, why it was rejected, and the line itself."""

    source: str
    line_no: int
    reason: str
    raw: str
