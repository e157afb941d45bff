"""The estimator (sklearn conventions, score direction), explanations and artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from features.registry import FEATURE_NAMES, FEATURES
from features.state import AccountState
from models.artifact import METADATA_FILE, ModelArtifact, ModelError, base_metadata, load, save
from models.estimator import SuspicionForest
from models.explain import explain
from models.rarity import EvidenceRarity
from models.training import calibrate_by_role, calibrate_threshold


def _population(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.gamma(1.0, 1.0, size=(2000, 6))
    X[:, 5] = 0.0  # a feature that is zero for almost everyone (e.g. handoffs) ...
    X[::50, 5] = 1.0  # ... but not for all: a forest cannot split on a constant
    return X


def test_estimator_follows_sklearn_conventions() -> None:
    est = SuspicionForest(n_estimators=50, random_state=0, min_scale=0.5)
    assert est.get_params()["min_scale"] == 0.5
    assert not hasattr(est, "forest_")
    fitted = est.fit(_population())
    assert fitted is est
    assert {"floor_", "scale_", "forest_", "n_features_in_"} <= set(vars(est))
    twin = clone(est)
    assert twin.get_params() == est.get_params() and not hasattr(twin, "forest_")


def test_higher_scores_mean_more_suspicious_and_only_in_the_suspicious_direction() -> None:
    X = _population()
    est = SuspicionForest(n_estimators=100, random_state=0, min_scale=0.5).fit(X)
    typical = np.median(X, axis=0)
    low = np.zeros_like(typical)  # below typical everywhere: not suspicious
    high_one = typical.copy()
    high_one[5] = 8.0
    high_many = typical.copy()
    high_many[[0, 1, 5]] = [9.0, 9.0, 8.0]
    scores = est.score_samples(np.vstack([typical, low, high_one, high_many]))
    assert scores[1] == pytest.approx(scores[0], abs=0.02)
    assert scores[0] < scores[2] < scores[3]
    assert est.transform(low[None, :]).max() == 0.0
    # a feature that does not apply (NaN) counts as typical
    assert est.transform(np.full((1, 6), np.nan)).max() == 0.0


def test_estimator_is_deterministic_for_a_seed() -> None:
    X = _population()
    a = SuspicionForest(n_estimators=40, random_state=7).fit(X).score_samples(X[:50])
    b = SuspicionForest(n_estimators=40, random_state=7).fit(X).score_samples(X[:50])
    assert np.array_equal(a, b)


def test_estimator_rejects_the_wrong_number_of_features() -> None:
    est = SuspicionForest(n_estimators=10, random_state=0).fit(_population())
    with pytest.raises(ValueError, match="features"):
        est.score_samples(np.zeros((2, 3)))


def test_threshold_calibration_bounds_the_legit_false_positive_rate() -> None:
    peaks = np.linspace(0.3, 0.6, 1001)
    threshold = calibrate_threshold(peaks, target_fpr=0.01, margin=0.0)
    assert (peaks >= threshold).mean() <= 0.011
    assert calibrate_threshold(peaks, 0.01, 0.05) == pytest.approx(threshold * 1.05)


def test_calibration_protects_the_smallest_legitimate_role_too() -> None:
    """Pooled, 40 associations could all sit above a threshold that flags 0.4% of legit accounts."""
    roles = {"ordinary": np.linspace(0.0, 3.0, 10_000), "association": np.linspace(2.0, 6.0, 40)}
    pooled = calibrate_threshold(np.concatenate(list(roles.values())), 0.005, 0.0)
    by_role = calibrate_by_role(roles, 0.005, 0.0)
    assert (roles["association"] >= pooled).mean() > 0.5
    assert (roles["association"] >= by_role).mean() <= 1 / 40


# ---------------------------------------------------------------- the rarity model
def _rarity(**params: object) -> tuple[EvidenceRarity, np.ndarray]:
    rng = np.random.default_rng(0)
    legit = np.column_stack(
        [
            rng.poisson(0.2, 5000).astype(float),  # e.g. handoffs: mostly 0
            rng.integers(1, 4, 5000).astype(float),  # e.g. accounts on a device: 1-3
            np.where(rng.random(5000) < 0.8, np.nan, rng.random(5000)),  # applies to 20% only
        ]
    )
    est = EvidenceRarity(families=["resale", "linkage", "linkage"], units=[1.0, 1.0, 0.2], **params)
    return est.fit(legit, np.zeros(5000)), legit


def test_rarity_model_follows_sklearn_conventions() -> None:
    est = EvidenceRarity(families=["a", "b"], units=2.0)
    assert est.get_params()["units"] == 2.0 and not hasattr(est, "reference_")
    X = np.abs(np.random.default_rng(1).normal(size=(100, 2)))
    assert est.fit(X) is est
    assert {"reference_", "families_", "baseline_", "n_features_in_"} <= set(vars(est))
    twin = clone(est)
    assert twin.get_params() == est.get_params() and not hasattr(twin, "reference_")


def test_rarity_is_zero_for_typical_values_and_grows_into_the_tail() -> None:
    est, _ = _rarity()
    rarity = est.feature_rarity(np.array([[0.0, 1.0, np.nan], [1.0, 3.0, 0.5], [3.0, 3.0, 0.99]]))
    assert rarity[0].tolist() == [0.0, 0.0, 0.0]  # typical, or not applicable
    assert 0.0 < rarity[1, 0] < rarity[2, 0]
    # only the legit tail matters: a value reached by 1 in 100 legitimate accounts is ~2 decades
    share = 1 / 100
    est2 = EvidenceRarity().fit(np.r_[np.zeros(9900), np.ones(100)][:, None], np.zeros(10_000))
    assert est2.feature_rarity(np.array([[1.0]]))[0, 0] == pytest.approx(-np.log10(share), abs=0.01)


def test_rarity_keeps_growing_beyond_every_legitimate_account() -> None:
    est, legit = _rarity()
    top = np.nanmax(legit[:, 1])
    r = est.feature_rarity(np.array([[0.0, top + 1, np.nan], [0.0, top + 10, np.nan]]))[:, 1]
    assert r[1] - r[0] == pytest.approx(9.0)  # one decade per unit beyond the reference
    assert r[0] >= np.log10(5001) - est.baseline_[1] - 1e-9


def test_values_within_tolerance_are_never_evidence() -> None:
    est, _ = _rarity(tolerances=[-np.inf, 5.0, -np.inf])
    assert est.feature_rarity(np.array([[0.0, 5.0, np.nan]]))[0, 1] == 0.0
    assert est.feature_rarity(np.array([[0.0, 6.0, np.nan]]))[0, 1] > 3.0


def test_a_family_counts_once_and_families_add_up() -> None:
    est, _ = _rarity()
    row = np.array([[2.0, 8.0, 0.999]])
    per_feature = est.feature_rarity(row)[0]
    families = dict(zip(est.families_, est.family_rarity(row)[0], strict=True))
    assert families["linkage"] == pytest.approx(max(per_feature[1], per_feature[2]))
    assert families["resale"] == pytest.approx(per_feature[0])
    assert est.score_samples(row)[0] == pytest.approx(families["linkage"] + families["resale"])


def test_rarity_notes_say_how_unusual_in_words() -> None:
    est, _ = _rarity()
    strength = est.evidence_strength(np.array([[1.0, 9.0, np.nan]]))[0]
    assert est.strength_note(1, float(strength[1])) == "beyond all 5,000 legitimate accounts in the model's reference"
    assert est.strength_note(0, float(strength[0])).startswith("about 1 legitimate account in ")


# ---------------------------------------------------------------- explanations
def _state(**fields: object) -> AccountState:
    st = AccountState()
    for key, value in fields.items():
        setattr(st, key, value)
    return st


def _z(**named: float) -> np.ndarray:
    z = np.zeros(len(FEATURE_NAMES))
    for name, value in named.items():
        z[FEATURE_NAMES.index(name)] = value
    return z


def test_reasons_cite_the_most_unusual_features_with_checkable_numbers() -> None:
    st = _state(
        handoffs_out=4,
        handoff_out_gap_sum=12.0,
        handoff_out_example="93-bobigny:TS:20260312T0915:2",
        handoff_takers=["b1", "b2", "b3", "b4"],
        bookings=6,
        reactions=[1.0, 1.2, 1.4],
        timed_bookings=3,
        fast_bookings=3,
        device_accounts=15,
    )
    reasons = explain(_z(handoff_rate=6.0, reaction_speed=4.0, device_sharing=2.0, no_show_rate=0.5), st)
    assert reasons[0] == (
        "slot 93-bobigny:TS:20260312T0915:2 cancelled and re-booked by another account 3 s later on average "
        "(4 times, 4 different accounts, of 6 bookings)"
    )
    assert reasons[1].startswith("booked 1.2 s after release (median of the last 3 bookings)")
    assert reasons[2] == "shares a device with 14 other accounts"
    assert len(reasons) == 3  # no_show_rate is below the citation bar


def test_reasons_carry_the_models_note_on_how_unusual_each_is() -> None:
    st = _state(device_accounts=15)
    reasons = explain(_z(device_sharing=6.0), st, note=lambda j, v: f"note {j} {v:.0f}")
    assert reasons == [f"shares a device with 14 other accounts (note {FEATURE_NAMES.index('device_sharing')} 6)"]


def test_features_sharing_one_piece_of_evidence_cite_it_once() -> None:
    st = _state(
        searches=20000,
        gap_n=19999,
        gap_mean=3.0,
        gap_m2=0.16 * 19998,
        poll_hours_total=19,
        night_poll_hours_total=6,
        first_poll_t=1772438400.0,
        last_poll_t=1772506800.0,
    )
    reasons = explain(_z(polling_hours=5.0, night_polling_hours=4.0, search_regularity=3.0), st)
    assert len(reasons) == 1
    assert "every 3.0 s ± 0.4 s" in reasons[0] and "nights included (6 night hours)" in reasons[0]
    assert "19 h of sustained polling" in reasons[0]


def test_every_feature_has_evidence_that_renders() -> None:
    st = _state(
        bookings=3,
        asn_events=10,
        datacenter_events=10,
        addr_events=5,
        addr_changes=4,
        ua_events=2,
        automation_ua_events=2,
    )
    for feature in FEATURES:
        text = feature.evidence(st)
        assert isinstance(text, str) and len(text) > 10, feature.name


def test_reasons_are_never_empty() -> None:
    reasons = explain(_z(no_show_rate=0.4, handoff_rate=0.3), AccountState())
    assert len(reasons) == 1 and "several mildly unusual behaviours" in reasons[0] and "no_show_rate" in reasons[0]


# ---------------------------------------------------------------- artifacts
def _artifact() -> ModelArtifact:
    X = np.abs(np.random.default_rng(0).normal(size=(300, len(FEATURE_NAMES))))
    est = EvidenceRarity(families=[f.family for f in FEATURES]).fit(X)
    return ModelArtifact(est, 0.6, base_metadata() | {"version": "sg1-test", "threshold": 0.6})


def test_artifact_round_trip(tmp_path: Path) -> None:
    original = _artifact()
    save(original, tmp_path / "m")
    loaded = load(tmp_path / "m")
    assert loaded.version == "sg1-test" and loaded.threshold == 0.6
    X = np.ones((3, len(FEATURE_NAMES)))
    assert np.array_equal(loaded.estimator.score_samples(X), original.estimator.score_samples(X))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"feature_names": ["a", "b"]}, "trained on features"),
        ({"feature_hash": "0" * 64}, "feature definitions changed"),
        ({"sklearn_version": "0.24.2"}, "pickled with scikit-learn 0.24.2"),
        ({"format_version": 99}, "artifact format 99"),
    ],
)
def test_incompatible_artifacts_are_refused_with_the_reason(tmp_path: Path, change: dict, message: str) -> None:
    save(_artifact(), tmp_path / "m")
    meta_path = tmp_path / "m" / METADATA_FILE
    meta = json.loads(meta_path.read_text()) | change
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=message) as caught:
        load(tmp_path / "m")
    assert "Retrain" in str(caught.value)


def test_missing_artifact_says_how_to_build_one(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="make model"):
        load(tmp_path / "nothing-here")


@pytest.mark.parametrize("max_features", [1.0, 0.6])
@pytest.mark.parametrize("rows", [1, 7, 600])
def test_compiled_forest_scores_exactly_like_sklearn(max_features: float, rows: int) -> None:
    X = _population(3)
    est = SuspicionForest(n_estimators=60, max_features=max_features, random_state=1).fit(X)
    probe = np.random.default_rng(4).gamma(1.0, 2.0, size=(rows, X.shape[1]))
    Z = est.transform(probe)
    sklearn_scores = -est.forest_.score_samples(Z)
    assert np.allclose(-est.compiled_.score_samples(Z), sklearn_scores, rtol=0, atol=1e-12)
    assert np.allclose(est.score_samples(probe), sklearn_scores, rtol=0, atol=1e-12)
