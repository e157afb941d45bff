"""Evaluation figures: recall is also given among the scalper accounts that booked, since those that
never booked in the period have only what they share with others to show."""

from __future__ import annotations

import pytest

from models.evaluation import evaluate, markdown
from models.labels import Label, LabelSet


def _verdict(account: str, score: float, flagged: bool) -> dict[str, object]:
    return {"account_id": account, "score": score, "flagged": flagged, "flagged_at": "2026-03-02T10:00:00Z"}


def test_recall_is_split_between_scalpers_that_booked_and_those_that_never_did() -> None:
    labels = LabelSet(
        {
            "s1": Label("s1", "farm", True),
            "s2": Label("s2", "farm", True),
            "s3": Label("s3", "farm", True),
            "idle": Label("idle", "farm", True),
            "p1": Label("p1", "ordinary", False),
        }
    )
    verdicts = [
        _verdict("s1", 5.0, True),
        _verdict("s2", 4.0, True),
        _verdict("s3", 1.0, False),
        _verdict("idle", 0.5, False),
        _verdict("p1", 0.0, False),
    ]
    booked = {"s1": 0.0, "s2": 0.0, "s3": 0.0, "p1": 0.0}
    result = evaluate(verdicts, labels, booked)
    assert result["recall"] == pytest.approx(2 / 4)
    assert result["scalpers_booked"] == 3
    assert result["recall_booked"] == pytest.approx(2 / 3)
    assert result["recall_never_booked"] == 0.0
    assert "recall among the 3 scalper accounts that booked | 0.6667" in markdown(result)
    assert "recall_booked" not in evaluate(verdicts, labels)


def test_average_precision_without_the_never_booked_keeps_every_legitimate_account() -> None:
    labels = LabelSet(
        {
            "s1": Label("s1", "farm", True),
            "s2": Label("s2", "farm", True),
            "idle": Label("idle", "farm", True),
            "p1": Label("p1", "ordinary", False),
            "p2": Label("p2", "anxious_manual", False),
        }
    )
    # the idle scalper ranks below a legitimate account: the full ranking pays for it, the ranking
    # of those that booked does not; a legitimate account above a booker costs both
    verdicts = [
        _verdict("s1", 5.0, True),
        _verdict("p2", 4.5, False),
        _verdict("s2", 4.0, True),
        _verdict("p1", 0.6, False),
        _verdict("idle", 0.5, False),
    ]
    result = evaluate(verdicts, labels, {"s1": 0.0, "s2": 0.0})
    assert result["average_precision"] == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    assert result["average_precision_booked"] == pytest.approx((1 + 2 / 3) / 2)
    assert "average precision without those that never booked | 0.8333" in markdown(result)
