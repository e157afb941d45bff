"""``python -m dashboards.pictures`` (``make dashboards-png``): the dashboards drawn from a replayed wave.

Grafana is not installable here, so this draws each dashboard's panels with matplotlib from the
panels' own queries (read from ``dashboards/*.json``): Prometheus ``query_range`` against a real
Prometheus that scraped ``slotguard detect --replay-speed`` over a simulated scalping wave, and the
ClickHouse queries against the history store that replay wrote. It also takes a screenshot of the
firing alert on Prometheus' own ``/alerts`` page with Debian's Chromium (headless).

Time axes show the replay's event time; rates, measured by Prometheus per wall-clock second of a
replay ``speed`` times faster, are divided by ``speed`` so they read per second of event time.
Writes ``docs/img/dashboard-operations.png``, ``docs/img/dashboard-scalping.png``,
``docs/img/prometheus-alert-firing.png`` (the alerts page) and ``docs/img/prometheus-alert-labels.png``
(the alerts that fired in the last 5 minutes, with their labels, in Prometheus' expression browser).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import pickle
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt

from alerts.replay import Ports, ReplayStack
from dashboards.clickhouse import PLUGIN
from dashboards.sql import expand

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
IMG = REPO / "docs" / "img"
DASHBOARDS = ("operations", "scalping")
WAVE_SITES = 2


def _legend(template: str, labels: dict[str, str]) -> str:
    text = template
    for key, value in labels.items():
        text = text.replace("{{" + key + "}}", value)
    return text or ",".join(f"{k}={v}" for k, v in labels.items()) or "value"


def _expr(expr: str, rate_window: str, range_window: str) -> str:
    return expr.replace("$__rate_interval", rate_window).replace("$__range", range_window)


class Capture:
    """Everything the panels need, taken from a live replay stack."""

    def __init__(self, stack: ReplayStack, start: float, end: float, site: str) -> None:
        self.stack = stack
        self.start, self.end = start, end
        self.site = site
        self.rate_window = f"{max(4, int(stack.floor))}s"
        self.range_window = f"{int(end - start)}s"
        #: (dashboard, panel title, ref) -> what the query returned
        self.results: dict[tuple[str, str, str], Any] = {}

    def to_event_time(self, wall: float) -> datetime:
        clock = self.stack.replay_clock(self.site, self.end)
        assert clock is not None
        scraped, event_t = clock
        return datetime.fromtimestamp(event_t + (wall - scraped) * self.stack.speed, UTC)

    def prometheus(self, dashboard: str, panel: dict[str, Any]) -> None:
        for target in panel.get("targets", []):
            if target.get("datasource", {}).get("type") != "prometheus":
                continue
            expr = _expr(str(target["expr"]), self.rate_window, self.range_window)
            if target.get("instant"):
                result = self.stack.api.query(expr, self.end)
            else:
                result = self.stack.api.query_range(expr, self.start, self.end, 1.0)
            self.results[(dashboard, panel["title"], target["refId"])] = result


def capture(directory: Path, speed: float, seed: int, accounts: int, days: int, screenshot: Path | None) -> Any:
    """Simulate, replay, query; return (capture, ClickHouse results) with the stack stopped."""
    from simulator import WorldParams, simulate

    world = directory / "world"
    simulate(WorldParams(seed=seed, accounts=accounts, days=days, sites=WAVE_SITES, mix="bot-heavy"), world)
    events = world / "events.jsonl"
    _with_broken_lines(events)
    store = directory / "store"
    site = json.loads(events.read_text().split("\n", 1)[0])["site"]
    with ReplayStack(directory / "stack", speed, [events], Ports(), hold_s=600, store=f"chdb:{store}") as stack:
        started = time.time()
        deadline = started + days * 86400 / speed + 120
        shot = False
        # Debian's package serves Prometheus' classic web UI (under /classic), rendered on the server
        page = f"http://127.0.0.1:{stack.ports.prometheus}/classic/alerts"
        while time.time() < deadline and not stack.replays[0].done():
            stack.check()
            if screenshot is not None and not shot and _firing_on_page(page):
                shot = _screenshot(page, screenshot) and _firing_on_page(page)
                if shot:
                    # the expression browser: alerts that fired in the last minutes, with their labels
                    query = urllib.parse.quote('max_over_time(ALERTS{alertstate="firing"}[5m])')
                    _screenshot(f"http://127.0.0.1:{stack.ports.prometheus}/classic/graph?g0.expr={query}&g0.tab=1",
                                screenshot.with_name("prometheus-alert-labels.png"), height=470)  # fmt: skip
            time.sleep(0.3)
        end = time.time()
        cap = Capture(stack, started, end, site)
        docs = {name: json.loads((REPO / "dashboards" / f"{name}.json").read_text()) for name in DASHBOARDS}
        for name, doc in docs.items():
            for panel in doc["panels"]:
                cap.prometheus(name, panel)
        first_event = datetime.fromisoformat(json.loads(events.read_text().split("\n", 1)[0])["ts"]).timestamp()
        event_range = (first_event, cap.to_event_time(end).timestamp())
        cap.site = site
        # the mapping from wall to event time, kept before the stack stops
        clock = stack.replay_clock(site, end)
        if screenshot is not None and not shot:
            logger.warning("the surge alert never fired: no screenshot")
    assert clock is not None
    clickhouse = _clickhouse(docs, store, event_range)
    return cap, clock, clickhouse, docs


def _with_broken_lines(events: Path) -> None:
    """A few lines a producer broke (so the dead-letter panel has something to show)."""
    lines = events.read_bytes().splitlines(keepends=True)
    at = len(lines) // 3
    broken = [b'{"type": "login", "ts": "yesterday"}\n'] * 40
    events.write_bytes(b"".join(lines[:at] + broken + lines[at:]))


def _clickhouse(docs: dict[str, Any], store: Path, event_range: tuple[float, float]) -> dict[tuple[str, str], Any]:
    from slotguard.config import resolve
    from storage import open_store

    opened = open_store(f"chdb:{store}", pseudonym_key=resolve().pseudonym_key, create=False)
    out = {}
    for name, doc in docs.items():
        for panel in doc["panels"]:
            for target in panel.get("targets", []):
                if target.get("datasource", {}).get("type") == PLUGIN:
                    sql = expand(str(target["rawSql"]), *event_range)
                    out[(name, panel["title"])] = (_columns(sql), opened.backend.query(sql))
    return out


def _columns(sql: str) -> list[str]:
    """Result column names of a ``SELECT a, f(b, c) AS d ... FROM``: split at top-level commas."""
    head = sql.split("FROM", 1)[0].replace("SELECT", "", 1)
    parts, depth, current = [], 0, ""
    for char in head:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += (char == "(") - (char == ")")
        current += char
    parts.append(current)
    return [p.split(" AS ")[-1].strip() if " AS " in p else p.strip() for p in parts if p.strip()]


def _firing_on_page(url: str) -> bool:
    """Prometheus' alerts page says at least one alert fires."""
    import re
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as response:
        html = response.read().decode(errors="replace")
    found = re.search(r"Firing \((\d+)\)", html)
    return found is not None and int(found.group(1)) > 0


def _screenshot(url: str, out: Path, height: int = 1000) -> bool:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        logger.warning("no chromium: run scripts/ensure-apt.sh chromium")
        return False
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={profile}", "--virtual-time-budget=3000", f"--window-size=1400,{height}",
             f"--screenshot={out}", url],
            capture_output=True, text=True, timeout=90, check=False,
        )  # fmt: skip
    if done.returncode != 0 or not out.exists():
        logger.warning("chromium failed: %s", done.stderr[-500:])
        return False
    return True


def draw(cap: Capture, clock: tuple[float, float], clickhouse: dict[tuple[str, str], Any], docs: dict[str, Any],
         speed: float, out: Path) -> list[Path]:  # fmt: skip
    """One PNG per dashboard, panels laid out as Grafana's grid places them."""
    scraped, event_t = clock

    def event_time(wall: float) -> datetime:
        return datetime.fromtimestamp(event_t + (wall - scraped) * speed, UTC)

    written = []
    for name, doc in docs.items():
        panels = [p for p in doc["panels"] if p["type"] != "row"]
        rows = sorted({p["gridPos"]["y"] for p in panels})
        fig = plt.figure(figsize=(18, 4.2 * len(rows)))
        grid = fig.add_gridspec(len(rows), 24)
        for panel in panels:
            pos = panel["gridPos"]
            r = rows.index(pos["y"])
            ax = fig.add_subplot(grid[r, pos["x"] : pos["x"] + pos["w"]])
            _panel(ax, name, panel, cap, clickhouse, event_time, speed)
        fig.suptitle(f"{doc['title']}  (replayed simulated wave, {speed:g}x; times are event time, UTC)", fontsize=14)
        fig.tight_layout(rect=(0, 0, 1, 0.97))
        path = out / f"dashboard-{name}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        written.append(path)
    return written


def _panel(ax: Any, dashboard: str, panel: dict[str, Any], cap: Capture, clickhouse: dict[tuple[str, str], Any],
           event_time: Any, speed: float) -> None:  # fmt: skip
    ax.set_title(panel["title"], fontsize=10, loc="left")
    kind = panel["type"]
    if panel["targets"][0].get("datasource", {}).get("type") == PLUGIN:
        columns, rows = clickhouse.get((dashboard, panel["title"]), ([], []))
        if kind == "table":
            _table(ax, columns, rows)
        else:
            by_site: dict[str, list[tuple[Any, int]]] = {}
            for when, site, flags in rows:
                by_site.setdefault(site, []).append((_datetime(when), flags))
            for i, (site, points) in enumerate(sorted(by_site.items())):
                xs = [mdates.date2num(w) + (i - 0.5) * 0.012 for w, _ in points]
                ax.bar(xs, [f for _, f in points], width=0.012, label=site)
            _time_axis(ax)
            ax.legend(fontsize=8)
        return
    results = [(t, cap.results.get((dashboard, panel["title"], t["refId"]), [])) for t in panel["targets"]]
    if kind in ("table", "stat", "bargauge"):
        cells = []
        for target, result in results:
            for series in result:
                value = series.get("value") or (series.get("values") or [[0, "nan"]])[-1]
                cells.append((_legend(target.get("legendFormat", ""), series["metric"]), float(value[1])))
        if kind == "bargauge":
            cells.sort(key=lambda c: c[1])
            ax.barh([c[0] for c in cells], [c[1] for c in cells], color="#3274d9")
            ax.set_xlabel("flags in the range")
        elif kind == "stat":
            ax.axis("off")
            total = sum(c[1] for c in cells)
            ax.text(0.5, 0.45, f"{total:,.0f}", ha="center", va="center", fontsize=32, color="#37872d")
        else:
            metric = results[0][1][0]["metric"] if results and results[0][1] else {}
            _table(ax, list(metric), [list(metric.values())])
        return
    if kind == "heatmap":
        buckets: dict[str, float] = {}
        for _, result in results:
            for series in result:
                buckets[series["metric"]["le"]] = sum(float(v) for _, v in series["values"] if v != "NaN")
        order = sorted(buckets, key=lambda le: float("inf") if le == "+Inf" else float(le))
        counts = [buckets[le] for le in order]
        # each bucket's increase is cumulative (le): per-bucket counts are the differences
        per = [counts[0]] + [b - a for a, b in itertools.pairwise(counts)]
        ax.bar(range(len(order)), per, color="#8f3bb8")
        ax.set_xticks(range(len(order)), [f"≤{le}" for le in order], rotation=60, fontsize=7)
        ax.set_yscale("log")
        ax.set_ylabel("accounts scored")
        return
    rate = any("rate(" in str(t.get("expr", "")) for t, _ in results)
    plotted = 0
    for target, result in results:
        for series in result:
            xs = [event_time(float(t)) for t, _ in series["values"]]
            ys = [float(v) / (speed if rate else 1.0) for _, v in series["values"]]
            ax.plot(xs, ys, label=_legend(target.get("legendFormat", ""), series["metric"]), linewidth=1.2)
            plotted += 1
    if plotted:
        ax.legend(fontsize=7, ncol=3)
    else:
        ax.text(0.5, 0.5, "no data (this panel is for the streaming worker)" if "kafka" in str(results)
                else "no data", ha="center", va="center", transform=ax.transAxes, color="grey")  # fmt: skip
    _time_axis(ax)
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
    ax.set_ylabel({"ops": "per second", "s": "seconds", "short": ""}.get(unit, unit), fontsize=8)


def _time_axis(ax: Any) -> None:
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %H:%M"))
    ax.tick_params(axis="x", labelsize=7, rotation=30)
    ax.grid(alpha=0.3)


def _table(ax: Any, columns: list[str], rows: list[Any]) -> None:
    ax.axis("off")
    if not rows:
        ax.text(0.5, 0.5, "no rows", ha="center", va="center")
        return
    shown = [[_cell(v) for v in row] for row in rows[:12]]
    table = ax.table(cellText=shown, colLabels=columns, loc="upper center", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.auto_set_column_width(list(range(len(columns))))


def _datetime(value: Any) -> datetime:
    """A time from the store (a datetime, or epoch seconds / ISO text from chDB)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def _cell(value: Any) -> str:
    text = value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else str(value)
    return text if len(text) <= 90 else text[:87] + "..."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards.pictures", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=IMG)
    parser.add_argument("--speed", type=float, default=1800.0)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--accounts", type=int, default=1500)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--capture", type=Path, help="keep what was queried in this file (pickle), or draw from it")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.capture is not None and args.capture.exists():
        results, clock, clickhouse, docs = pickle.loads(args.capture.read_bytes())
        cap = Capture.__new__(Capture)
        cap.results = results
    else:
        with tempfile.TemporaryDirectory(prefix="slotguard-pictures-") as tmp:
            cap, clock, clickhouse, docs = capture(
                Path(tmp), args.speed, args.seed, args.accounts, args.days, args.out / "prometheus-alert-firing.png"
            )
        if args.capture is not None:
            args.capture.write_bytes(pickle.dumps((cap.results, clock, clickhouse, docs)))
    for path in draw(cap, clock, clickhouse, docs, args.speed, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
