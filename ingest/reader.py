"""Reading JSON Lines of contract-v1 events from a file or stdin, with dead letters.

Each line is decoded exactly once. A line that fails the contract becomes a
:class:`~ingest.deadletter.DeadLetter` (reason + raw line) handed to the caller's sink and
counted; the run goes on. Blank lines are counted and skipped.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ingest.contract import AnyEvent, ContractError, decode
from ingest.deadletter import DeadLetter

DeadLetterSink = Callable[[DeadLetter], None]


@dataclass
class ReadStats:
    """What the reader saw."""

    lines: int = 0
    valid: int = 0
    invalid: int = 0
    blank: int = 0
    bytes_read: int = 0
    invalid_by_kind: Counter[str] = field(default_factory=Counter)


def open_source(source: str | Path) -> tuple[BinaryIO, int | None]:
    """Open a path (or ``-`` for stdin) for binary reading; also return its size if known."""
    if str(source) == "-":
        return sys.stdin.buffer, None
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"no such events file: {path}")
    return path.open("rb"), os.path.getsize(path)


class EventReader:
    """Iterate ``(raw_line, event)`` over valid lines; invalid ones go to ``on_dead_letter``."""

    def __init__(self, stream: BinaryIO, on_dead_letter: DeadLetterSink, source_name: str = "-") -> None:
        self.stream = stream
        self.on_dead_letter = on_dead_letter
        self.source_name = source_name
        self.stats = ReadStats()

    def __iter__(self) -> Iterator[tuple[bytes, AnyEvent]]:
        stats = self.stats
        lines = valid = size = 0
        try:
            for raw in self.stream:
                lines += 1
                size += len(raw)
                try:
                    # JSON allows the trailing newline and blanks: no strip on the hot path
                    event = decode(raw)
                except ContractError as exc:
                    self._dead(raw, lines, exc)
                    continue
                valid += 1
                if (valid & 0x3FFF) == 0:
                    stats.lines, stats.valid, stats.bytes_read = lines, valid, size
                yield raw, event
        finally:
            stats.lines, stats.valid, stats.bytes_read = lines, valid, size

    def _dead(self, raw: bytes, line_no: int, exc: ContractError) -> None:
        stats = self.stats
        line = raw.strip()
        if not line:
            stats.blank += 1
            return
        stats.invalid += 1
        stats.invalid_by_kind[exc.kind] += 1
        self.on_dead_letter(
            DeadLetter(self.source_name, line_no, str(exc), line.decode("utf-8", errors="backslashreplace"))
        )
