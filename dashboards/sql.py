"""Grafana's ClickHouse macros, expanded the way the plugin does, for running panel queries outside Grafana."""

from __future__ import annotations

import re

_TIME_FILTER = re.compile(r"\$__timeFilter\((\w+)\)")


def expand(sql: str, start: float, end: float) -> str:
    """``sql`` with ``$__timeFilter(col)``, ``$__fromTime`` and ``$__toTime`` for [start, end] (Unix seconds)."""
    lo, hi = f"toDateTime({int(start)}, 'UTC')", f"toDateTime({int(end) + 1}, 'UTC')"
    sql = _TIME_FILTER.sub(lambda m: f"{m.group(1)} >= {lo} AND {m.group(1)} <= {hi}", sql)
    return sql.replace("$__fromTime", lo).replace("$__toTime", hi)


def tables(sql: str) -> list[str]:
    """The ``database.table`` names a query reads."""
    return re.findall(r"\bFROM\s+(\w+\.\w+)", sql, flags=re.IGNORECASE)
