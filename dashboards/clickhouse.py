"""A ClickHouse query for Grafana's ClickHouse data source plugin (``grafana-clickhouse-datasource``).

grafana-foundation-sdk has builders for Grafana's core data sources, not this plugin: this is the
plugin's SQL query model (editor ``sql``, raw SQL with Grafana macros such as ``$__timeFilter``)
as an SDK ``Dataquery`` and its builder, so panels take it like any other target.
"""

from __future__ import annotations

from typing import Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard

PLUGIN = "grafana-clickhouse-datasource"
#: the plugin's result formats
FORMAT_TIME_SERIES = 0
FORMAT_TABLE = 1


class ClickHouseQuery(cogvariants.Dataquery):
    """The plugin's query: raw SQL, a result format, the data source."""

    def __init__(self, raw_sql: str = "", ref_id: str = "A", format_val: int = FORMAT_TABLE,
                 datasource: dashboard.DataSourceRef | None = None) -> None:  # fmt: skip
        self.raw_sql = raw_sql
        self.ref_id = ref_id
        self.format_val = format_val
        self.datasource = datasource

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "editorType": "sql",
            "rawSql": self.raw_sql,
            "format": self.format_val,
            "queryType": "table" if self.format_val == FORMAT_TABLE else "timeseries",
        }
        if self.datasource is not None:
            payload["datasource"] = self.datasource
        return payload


class ClickHouse(cogbuilder.Builder[ClickHouseQuery]):
    """Builder of :class:`ClickHouseQuery` (``ClickHouse().raw_sql("SELECT ...").table()``)."""

    def __init__(self) -> None:
        self._internal = ClickHouseQuery()

    def build(self) -> ClickHouseQuery:
        return self._internal

    def raw_sql(self, sql: str) -> Self:
        self._internal.raw_sql = sql
        return self

    def ref_id(self, ref_id: str) -> Self:
        self._internal.ref_id = ref_id
        return self

    def table(self) -> Self:
        self._internal.format_val = FORMAT_TABLE
        return self

    def time_series(self) -> Self:
        self._internal.format_val = FORMAT_TIME_SERIES
        return self

    def datasource(self, ref: dashboard.DataSourceRef) -> Self:
        self._internal.datasource = ref
        return self
