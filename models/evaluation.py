"""Detection quality against ground truth: the figures investigators and data scientists ask for.

Average precision of the scores, precision and recall of ``flagged``, the best recall reachable
at 95 % precision, the false-positive rate of every legitimate role (buyers separately: they are
the scalpers' victims), recall per scalping style, and how long after an account's first booking
it was flagged. Also writes a Markdown report with a precision-recall plot.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve

from models.labels import LabelSet

logger = logging.getLogger(__name__)

PRECISION_FLOOR = 0.95


class _BookingProbe(msgspec.Struct):
    type: str
    ts: datetime
    account_id: str | None = None


def first_bookings(events_path: Path) -> dict[str, float]:
    """Event time of each account's first ``booking_created`` (one light pass over the file)."""
    decoder = msgspec.json.Decoder(_BookingProbe)
    first: dict[str, float] = {}
    with events_path.open("rb") as stream:
        for line in stream:
            if b'"booking_created"' not in line:
                continue
            try:
                probe = decoder.decode(line)
            except msgspec.MsgspecError:
                continue
            if probe.type != "booking_created" or probe.account_id is None:
                continue
            t = probe.ts.timestamp()
            if t < first.get(probe.account_id, math.inf):
                first[probe.account_id] = t
    return first


def read_verdicts(path: Path | str) -> list[dict[str, Any]]:
    """Read contract verdicts (JSON Lines)."""
    rows = []
    with Path(path).open("rb") as stream:
        for number, line in enumerate(stream, 1):
            if line.strip():
                try:
                    rows.append(msgspec.json.decode(line))
                except msgspec.DecodeError as exc:
                    raise ValueError(f"{path}:{number}: not a verdict: {exc}") from None
    return rows


def _parse_time(value: Any) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value)).timestamp()


def evaluate(
    verdicts: Iterable[Mapping[str, Any]],
    labels: LabelSet,
    first_booking: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Quality figures for verdicts against labels (accounts without a verdict count as unflagged)."""
    by_account = {str(v["account_id"]): v for v in verdicts}
    accounts = sorted(labels.by_account)
    y = np.array([labels.by_account[a].scalper for a in accounts], dtype=bool)
    lowest = min((float(v["score"]) for v in by_account.values()), default=0.0) - 1.0
    scores = np.array([float(by_account[a]["score"]) if a in by_account else lowest for a in accounts])
    flagged = np.array([bool(by_account.get(a, {}).get("flagged", False)) for a in accounts])
    positives = int(y.sum())
    true_pos = int((flagged & y).sum())
    result: dict[str, Any] = {
        "accounts": len(accounts),
        "scalpers": positives,
        "without_verdict": sum(1 for a in accounts if a not in by_account),
        "flagged": int(flagged.sum()),
        "true_positives": true_pos,
        "precision": true_pos / int(flagged.sum()) if flagged.any() else 1.0,
        "recall": true_pos / positives if positives else 1.0,
    }
    if 0 < positives < len(accounts):
        result["average_precision"] = float(average_precision_score(y, scores))
        precision, recall, _ = precision_recall_curve(y, scores)
        ok = precision >= PRECISION_FLOOR
        result["recall_at_precision_95"] = float(recall[ok].max()) if ok.any() else 0.0
        result["pr_curve"] = {"precision": precision.tolist(), "recall": recall.tolist()}
    roles: dict[str, dict[str, Any]] = {}
    for i, account in enumerate(accounts):
        label = labels.by_account[account]
        row = roles.setdefault(label.role, {"scalper": label.scalper, "accounts": 0, "flagged": 0})
        row["accounts"] += 1
        row["flagged"] += int(flagged[i])
    for row in roles.values():
        row["rate"] = row["flagged"] / row["accounts"]
    result["roles"] = dict(sorted(roles.items()))
    legit = [r for r in roles.values() if not r["scalper"]]
    result["worst_legit_role_fpr"] = max((r["rate"] for r in legit), default=0.0)
    result["legit_fpr"] = sum(r["flagged"] for r in legit) / max(sum(r["accounts"] for r in legit), 1)
    if first_booking is not None:
        # scalper accounts that never booked in the period (reserve accounts, watchers) have only
        # what they share with others to show; recall among those that booked says how well the
        # accounts that acted on slots are found
        booked = np.array([a in first_booking for a in accounts], dtype=bool)
        acted = y & booked
        result["scalpers_booked"] = int(acted.sum())
        result["recall_booked"] = int((flagged & acted).sum()) / int(acted.sum()) if acted.any() else 1.0
        idle = y & ~booked
        result["recall_never_booked"] = int((flagged & idle).sum()) / int(idle.sum()) if idle.any() else 1.0
        # the same ranking with the scalper accounts that never booked left out (every legitimate
        # account stays): how well the accounts that acted on slots are ranked
        seen = ~idle
        if acted.any() and (seen & ~y).any():
            result["average_precision_booked"] = float(average_precision_score(y[seen], scores[seen]))
        delays = []
        before = 0
        for i, account in enumerate(accounts):
            if not (y[i] and flagged[i]) or account not in first_booking:
                continue
            at = _parse_time(by_account[account].get("flagged_at"))
            if at is None:
                continue
            delay = at - first_booking[account]
            before += delay < 0
            delays.append(max(delay, 0.0))
        if delays:
            result["delay_after_first_booking_s"] = {
                "median": float(np.median(delays)),
                "p90": float(np.percentile(delays, 90)),
                "max": float(np.max(delays)),
                "flagged_before_first_booking": before,
                "n": len(delays),
            }
    return result


def _fmt_delay(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def markdown(result: Mapping[str, Any], plot_name: str | None = None, title: str = "Detection quality") -> str:
    """A readable report of :func:`evaluate`'s result."""
    lines = [f"# {title}", ""]
    lines += [
        "| measure | value |",
        "|---|---|",
        f"| accounts (scalpers) | {result['accounts']} ({result['scalpers']}) |",
        f"| average precision | {result.get('average_precision', math.nan):.4f} |",
        f"| precision of flagged | {result['precision']:.4f} |",
        f"| recall of flagged | {result['recall']:.4f} |",
        *(
            [
                f"| recall among the {result['scalpers_booked']} scalper accounts that booked | "
                f"{result['recall_booked']:.4f} |",
                f"| recall among those that never booked | {result['recall_never_booked']:.4f} |",
                f"| average precision without those that never booked | "
                f"{result.get('average_precision_booked', float('nan')):.4f} |",
            ]
            if "recall_booked" in result
            else []
        ),
        f"| best recall at precision >= {PRECISION_FLOOR:.2f} | {result.get('recall_at_precision_95', math.nan):.4f} |",
        f"| false-positive rate, all legitimate | {result['legit_fpr']:.4%} |",
        f"| worst legitimate role | {result['worst_legit_role_fpr']:.4%} |",
    ]
    delay = result.get("delay_after_first_booking_s")
    if delay:
        lines.append(
            f"| delay after first booking (median / p90) | {_fmt_delay(delay['median'])} / "
            f"{_fmt_delay(delay['p90'])} ({delay['flagged_before_first_booking']} of {delay['n']} "
            f"flagged before booking) |"
        )
    lines += ["", "## By role", "", "| role | scalper | accounts | flagged | rate |", "|---|---|---|---|---|"]
    for role, row in result["roles"].items():
        scalper = "yes" if row["scalper"] else "no"
        lines.append(f"| {role} | {scalper} | {row['accounts']} | {row['flagged']} | {row['rate']:.2%} |")
    if plot_name:
        lines += ["", f"![precision-recall curve]({plot_name})"]
    return "\n".join(lines) + "\n"


def plot_pr(result: Mapping[str, Any], path: Path) -> Path | None:
    """Save the precision-recall curve as PNG (None when there is no curve to draw)."""
    curve = result.get("pr_curve")
    if not curve:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=110)
    ax.step(curve["recall"], curve["precision"], where="post", color="#1f5fa8", linewidth=2)
    ax.axhline(PRECISION_FLOOR, color="#999999", linestyle="--", linewidth=1)
    ax.plot([result["recall"]], [result["precision"]], "o", color="#c0392b", label="flagged (threshold)")
    ax.set_xlabel("recall (scalper accounts found)")
    ax.set_ylabel("precision (flagged accounts that scalp)")
    ax.set_title(f"Precision-recall, AP = {result.get('average_precision', math.nan):.3f}")
    ax.set_xlim(0, 1.01)
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
