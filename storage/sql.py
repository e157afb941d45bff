"""SQL text helpers shared by every statement: literals and the database placeholder.

Values are rendered client-side as ClickHouse literals, the same way for chDB and for a server, so
that one SQL string runs on both (chDB's ``{name:Type}`` parameters and clickhouse-driver's
``%(name)s`` do not agree). Every literal goes through :func:`lit`, which escapes quotes and
backslashes, so account ids from input can never change a statement's meaning.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from datetime import UTC, datetime

log = logging.getLogger(__name__)

_ESCAPES = {"\\": "\\\\", "'": "\\'", "\0": "\\0", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_TABLE = str.maketrans(_ESCAPES)


def lit(value: object) -> str:
    """One value as a ClickHouse literal (str, int, float, bool, None, or a list of those)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write non-finite number {value!r} as a literal")
        return repr(value)
    if isinstance(value, str):
        return "'" + value.translate(_TABLE) + "'"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(lit(v) for v in value) + "]"
    raise TypeError(f"no SQL literal for {type(value).__name__}")


def lits(values: Iterable[object]) -> str:
    """A parenthesised list of literals for ``IN (...)``; callers must not pass an empty list."""
    items = [lit(v) for v in values]
    if not items:
        raise ValueError("IN () with no values is not valid SQL; check for an empty list first")
    return "(" + ", ".join(items) + ")"


def render(sql: str, database: str) -> str:
    """Replace ``{db}`` with the (already validated) database name."""
    return sql.replace("{db}", database)


def to_ms(value: datetime) -> int:
    """Epoch milliseconds of an aware datetime (naive ones are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return round(value.timestamp() * 1000)


def iso(ms: int | None) -> str | None:
    """RFC 3339 UTC timestamp with milliseconds, or None."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
