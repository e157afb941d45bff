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
        for raw in self.stream:
            stats.lines += 1
            stats.bytes_read += len(raw)
            line = raw.strip()
            if not line:
                stats.blank += 1
                continue
            try:
                event = decode(line)
            except ContractError as exc:
                stats.invalid += 1
                stats.invalid_by_kind[exc.kind] += 1
                self.on_dead_letter(
                    DeadLetter(
                        self.source_name,
                        stats.lines,
                        str(exc),
                        line.decode("utf-8", errors="backslashreplace"),
                    )
                )
                continue
            stats.valid += 1
            yield line, event
