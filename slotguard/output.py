"""Output helpers shared by commands: readable tables by default, JSON Lines for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

FORMATS = ("table", "json")


def add_format_flag(parser: Any) -> None:
    """``--format table|json`` (json: one JSON object per line)."""
    parser.add_argument(
        "--format", choices=FORMATS, default="table", help="table for people, json (one object per line) for scripts"
    )


def json_lines(rows: Iterable[Mapping[str, Any]], stream: TextIO | None = None) -> None:
    """Write one JSON object per line."""
    out = stream or sys.stdout
    for row in rows:
        out.write(json.dumps(row, default=str, ensure_ascii=False) + "\n")
    out.flush()


def table(
    rows: Iterable[Sequence[Any]],
    columns: Sequence[str],
    title: str | None = None,
    stream: TextIO | None = None,
) -> None:
    """A readable table (rich), wrapping long cells."""
    from rich.console import Console
    from rich.table import Table

    out = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*("" if cell is None else str(cell) for cell in row))
    Console(file=stream or sys.stdout, soft_wrap=False).print(out)


def key_values(pairs: Iterable[tuple[str, Any]], title: str | None = None, stream: TextIO | None = None) -> None:
    """A two-column table of named figures."""
    table(pairs, ("", "value"), title=title, stream=stream)
