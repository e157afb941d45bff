"""The two dashboards, built with grafana-foundation-sdk (Grafana's own builder).

- *slotguard operations* (for IT): throughput, lags, dead letters, duplicates and late events,
  history writes, batches, accounts in state, the model scoring now.
- *slotguard scalping* (for investigators): flags and handoffs per site over time, top reason
  kinds, the score distribution (Prometheus), and the latest flagged accounts and flags per site
  from the history store (ClickHouse).

Every Prometheus query reads a metric of :mod:`alerts.metrics`; every ClickHouse query a table of
the store's schema (``storage/migrations``); ``tests/dashboards`` checks both against a real
scrape and a real store.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import bargauge, heatmap, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders.common import VizLegendOptions
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import GraphDrawStyle, LegendDisplayMode, LegendPlacement
from grafana_foundation_sdk.models.dashboard import DataSourceRef
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from dashboards.clickhouse import PLUGIN, ClickHouse

#: data source uids (``dashboards/provisioning/datasources.yml`` provisions them)
PROMETHEUS = DataSourceRef(type_val="prometheus", uid="slotguard-prometheus")
CLICKHOUSE = DataSourceRef(type_val=PLUGIN, uid="slotguard-clickhouse")


def _prom(expr: str, legend: str = "", ref: str = "A") -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(PROMETHEUS)
    return query.legend_format(legend) if legend else query


def _legend() -> VizLegendOptions:
    return VizLegendOptions().show_legend(True).display_mode(LegendDisplayMode.LIST).placement(LegendPlacement.BOTTOM)


def _series(title: str, unit: str, description: str, *queries: prometheus.Dataquery, width: int = 12) -> Any:
    panel = timeseries.Panel().title(title).description(description).unit(unit).datasource(PROMETHEUS)
    for query in queries:
        panel = panel.with_target(query)
    return panel.span(width).height(8).legend(_legend()).fill_opacity(10)


def operations() -> dash.Dashboard:
    """For prefecture IT: is the pipeline healthy?"""
    return (
        dash.Dashboard("slotguard operations")
        .uid("slotguard-operations")
        .description("Throughput, lags, errors, dead letters and the model of the slotguard pipeline")
        .tags(["slotguard", "operations"])
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("browser")
        .with_row(dash.Row("Throughput"))
        .with_panel(_series(
            "Events processed per second, by site", "ops", "Valid events accepted for detection",
            _prom("sum by (site) (rate(slotguard_events_processed_total[$__rate_interval]))", "{{site}}")))
        .with_panel(_series(
            "Events processed per second, by type", "ops", "By contract event type, all sites",
            _prom("sum by (type) (rate(slotguard_events_processed_total[$__rate_interval]))", "{{type}}")))
        .with_panel(_series(
            "Batches per second", "ops", "Batches the shells hand to the detection core",
            _prom("sum(rate(slotguard_batches_processed_total[$__rate_interval]))", "batches"), width=8))
        .with_panel(
            stat.Panel().title("Accounts in state").description("Accounts whose features are held in state")
            .datasource(PROMETHEUS).with_target(_prom("sum(slotguard_accounts_in_state)", "accounts"))
            .span(8).height(8))
        .with_panel(
            table.Panel().title("Model scoring now").description("Version, feature-set hash and threshold")
            .datasource(PROMETHEUS)
            .with_target(_prom("max by (version, feature_hash, threshold) (slotguard_model_info)").instant()
                         .format(PromQueryFormat.TABLE))
            .span(8).height(8))
        .with_row(dash.Row("Lags"))
        .with_panel(_series(
            "Event-time lag, by site", "s", "Clock minus the newest event processed (grows when a site stalls)",
            _prom("max by (site) (slotguard_event_time_lag_seconds)", "{{site}}")))
        .with_panel(_series(
            "Kafka consumer lag, by partition", "short", "Messages not yet read (worker only)",
            _prom("sum by (topic, partition) (slotguard_kafka_consumer_lag_messages)", "{{topic}}/{{partition}}")))
        .with_row(dash.Row("Errors"))
        .with_panel(_series(
            "Dead letters per second, by reason kind", "ops", "Input rejected by the contract",
            _prom("sum by (reason_kind) (rate(slotguard_events_invalid_total[$__rate_interval]))", "{{reason_kind}}"),
            width=8))
        .with_panel(_series(
            "Duplicates and late events per second", "ops", "Applied once / applied in the next tick",
            _prom("sum(rate(slotguard_events_duplicate_total[$__rate_interval]))", "duplicates"),
            _prom("sum(rate(slotguard_events_late_total[$__rate_interval]))", "late", "B"), width=8))
        .with_panel(_series(
            "History rows per second, by table", "ops", "Written, retried and failed rows of the history store",
            _prom("sum by (table) (rate(slotguard_history_rows_written_total[$__rate_interval]))", "{{table}} written"),
            _prom("sum by (table) (rate(slotguard_history_write_retries_total[$__rate_interval]))",
                  "{{table}} retried", "B"),
            _prom("sum by (table) (rate(slotguard_history_rows_failed_total[$__rate_interval]))",
                  "{{table}} failed", "C"), width=8))
    )  # fmt: skip


LATEST_FLAGS_SQL = """\
SELECT flagged_at, site, account_id, round(score, 2) AS score, arrayStringConcat(reasons, ' | ') AS reasons,
       model_version
FROM slotguard.flags
WHERE $__timeFilter(flagged_at)
ORDER BY flagged_at DESC
LIMIT 50"""

FLAGS_PER_HOUR_SQL = """\
SELECT toStartOfHour(flagged_at) AS time, site, count() AS flags
FROM slotguard.flags
WHERE $__timeFilter(flagged_at)
GROUP BY time, site
ORDER BY time"""


def scalping() -> dash.Dashboard:
    """For investigators: where is scalping happening, why are accounts flagged, who?"""
    return (
        dash.Dashboard("slotguard scalping")
        .uid("slotguard-scalping")
        .description("Flags and handoffs per site, reason kinds, scores and the latest flagged accounts")
        .tags(["slotguard", "scalping"])
        .time("now-24h", "now")
        .refresh("1m")
        .timezone("browser")
        .with_row(dash.Row("Per site"))
        .with_panel(_series(
            "Flags per hour, by site", "short", "Accounts newly flagged for scalping",
            _prom("sum by (site) (rate(slotguard_flags_raised_total[$__rate_interval])) * 3600", "{{site}}")))
        .with_panel(_series(
            "Handoffs per hour, by site", "short", "A cancel, then another account books the slot moments later",
            _prom("sum by (site) (rate(slotguard_handoffs_detected_total[$__rate_interval])) * 3600", "{{site}}")))
        .with_row(dash.Row("Evidence"))
        .with_panel(
            bargauge.Panel().title("Top reason kinds").description("Strongest evidence of the flags in the range")
            .datasource(PROMETHEUS)
            .with_target(_prom("topk(8, sum by (reason_kind) (increase(slotguard_flags_raised_total[$__range])))",
                               "{{reason_kind}}").instant())
            .span(8).height(9))
        .with_panel(
            heatmap.Panel().title("Score distribution").description("Scores given to accounts (threshold: 2.5)")
            .datasource(PROMETHEUS)
            .with_target(_prom("sum by (le) (increase(slotguard_score_bucket[$__rate_interval]))", "{{le}}")
                         .format(PromQueryFormat.HEATMAP))
            .span(8).height(9))
        .with_panel(
            timeseries.Panel().title("Flags per hour, by site (history store)")
            .description("From the ClickHouse history: what investigators can open")
            .datasource(CLICKHOUSE)
            .with_target(ClickHouse().raw_sql(FLAGS_PER_HOUR_SQL).time_series().datasource(CLICKHOUSE))
            .span(8).height(9).draw_style(GraphDrawStyle.BARS))
        .with_row(dash.Row("Accounts"))
        .with_panel(
            table.Panel().title("Latest flagged accounts").description("From the history store (ClickHouse)")
            .datasource(CLICKHOUSE)
            .with_target(ClickHouse().raw_sql(LATEST_FLAGS_SQL).table().datasource(CLICKHOUSE))
            .span(24).height(10))
    )  # fmt: skip


DASHBOARDS = {"operations": operations, "scalping": scalping}


def render(builder: dash.Dashboard) -> str:
    """The dashboard's JSON, as committed (sorted keys, two-space indent)."""
    return JSONEncoder(sort_keys=True, indent=2).encode(builder.build()) + "\n"
