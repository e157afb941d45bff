"""The estimator (sklearn conventions, score direction), site references, deciding, explanations, artifacts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import check_estimator

from features.engine import FeatureBatch
from features.facts import SellerFlagged
from features.registry import FEATURE_NAMES, FEATURES, vector
from features.state import AccountState
from models.artifact import METADATA_FILE, ModelArtifact, ModelError, base_metadata, load, save
from models.detector import Detector, SiteReferences, reference_weight
from models.explain import buyer_reasons, explain, seller_note
from models.population import PopulationRarity, Reference
from models.records import RESALE_BUYER, SCALPING, Verdict
from models.training import TrainingOptions, calibrate_by_role, calibrate_threshold, new_estimator


@pytest.mark.parametrize(
    "estimator",
    [
        PopulationRarity(),
        PopulationRarity(family_cap=2.0, extrapolation=0.5),
        PopulationRarity(amplification=0.5, context_weight=0.1),
    ],
    ids=["defaults", "capped", "amplification"],
)
def test_estimators_pass_sklearn_checks(estimator: PopulationRarity) -> None:
    """Every applicable check of scikit-learn's suite (the array-API ones need a library we do not ship)."""
    results = check_estimator(estimator, on_skip=None, on_fail=None)
    failed = [r for r in results if r["status"] == "failed"]
    assert not failed, failed
    assert sum(r["status"] == "passed" for r in results) >= 40


def _population(seed: int = 0, n: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = np.floor(rng.gamma(1.0, 1.0, size=(n, 4)))
    X[:, 3] = 0.0  # a feature that is zero for almost everyone (e.g. handoffs) ...
    X[::100, 3] = 1.0  # ... but not for all
    return X


_BINS = [tuple(float(b) for b in range(0, 40)) for _ in range(4)]


def test_estimator_follows_sklearn_conventions() -> None:
    est = PopulationRarity(bins=_BINS, family_cap=5.0)
    assert est.get_params()["family_cap"] == 5.0
    assert not hasattr(est, "reference_")
    fitted = est.fit(_population())
    assert fitted is est
    assert {"reference_", "tables_", "edges_", "n_features_in_", "n_rows_"} <= set(vars(est))
    twin = clone(est)
    assert twin.get_params() == est.get_params() and not hasattr(twin, "reference_")


def test_rarity_is_zero_for_typical_values_and_grows_into_the_tail() -> None:
    X = _population()
    est = PopulationRarity(bins=_BINS).fit(X)
    rarity = est.feature_rarity(np.array([[0, 0, 0, 0], [1, 1, 1, 1], [4, 4, 4, 0]], dtype=float))
    assert rarity[0].max() == 0.0  # typical: no evidence
    assert 0 < rarity[1, 0] < rarity[2, 0]
    # 1 in 100 accounts has handoffs: two decades
    assert rarity[1, 3] == pytest.approx(np.log10(2001 / 21), abs=0.01)


def test_rarity_keeps_growing_beyond_every_account_of_the_reference() -> None:
    est = PopulationRarity(bins=_BINS, units=[1.0, 1.0, 1.0, 0.5]).fit(_population())
    rarity = est.feature_rarity(np.array([[0, 0, 0, 3.0], [0, 0, 0, 9.0]]))[:, 3]
    top = np.log10(2001)
    assert rarity[0] == pytest.approx(top + (3.0 - 2.0) / 0.5)
    assert rarity[1] == pytest.approx(top + (9.0 - 2.0) / 0.5)


def test_values_within_tolerance_or_not_applicable_are_never_evidence() -> None:
    est = PopulationRarity(bins=_BINS, tolerances=[np.inf, -np.inf, -np.inf, 1.0]).fit(_population())
    rarity = est.feature_rarity(np.array([[30.0, np.nan, np.nan, 1.0]]))
    assert rarity.max() == 0.0


def test_a_family_counts_once_capped_and_families_add_up() -> None:
    X = _population()
    est = PopulationRarity(bins=_BINS, families=["a", "a", "b", "c"], family_cap=[2.5, 10.0, 10.0]).fit(X)
    row = np.array([[30.0, 30.0, 0.0, 0.0]])
    assert est.score_samples(row)[0] == pytest.approx(2.5)  # two views of one behaviour, capped
    both = np.array([[30.0, 0.0, 30.0, 0.0]])
    assert est.score_samples(both)[0] == pytest.approx(2.5 + min(est.feature_rarity(both)[0, 2], 10.0))


def test_amplifying_families_add_at_most_their_factor_times_the_own_evidence() -> None:
    """Context alone is (almost) nothing; with own evidence each amplifying family adds up to its
    factor times it, and all of them together up to the largest factor times it."""
    X = _population()
    est = PopulationRarity(
        bins=_BINS,
        families=["own", "polling", "linkage", "linkage"],
        family_cap=2.0,
        amplifying=[False, True, True],
        amplification=[0.0, 0.5, 1.0],
        context_weight=0.1,
    ).fit(X)
    family = np.array([[0.0, 2.0, 2.0], [1.0, 2.0, 0.0], [1.0, 0.0, 2.0], [1.0, 2.0, 2.0]])
    scores = est.combine(family)
    assert scores[0] == pytest.approx(0.1 * 4.0)  # context only: a tenth of it
    assert scores[1] == pytest.approx(1.0 + 0.5 + 0.1 * 1.5)  # polling: half the own evidence
    assert scores[2] == pytest.approx(1.0 + 1.0 + 0.1 * 1.0)  # linkage with holders: as much again
    assert scores[3] == pytest.approx(1.0 + 1.0 + 0.1 * 3.0)  # together: no more than the largest factor
    with pytest.raises(ValueError, match="non-negative"):
        PopulationRarity(amplification=-1.0).fit(X)


def test_a_reference_is_the_population_it_is_given() -> None:
    """What is rare at one site may be ordinary at another: the same value, two populations."""
    est = PopulationRarity(bins=_BINS).fit(_population())
    quiet = Reference.empty(est.edges_)
    quiet.add(est.bin_rows(np.zeros((1000, 4))))
    busy = Reference.empty(est.edges_)
    busy.add(est.bin_rows(np.full((1000, 4), 5.0)))
    x = np.array([[5.0, 0, 0, 0]])
    assert est.feature_rarity(x, est.tables(quiet))[0, 0] > 3.0
    assert est.feature_rarity(x, est.tables(busy))[0, 0] == 0.0


def test_sample_weights_count_accounts_as_fractions() -> None:
    X = np.vstack([np.zeros((100, 4)), np.ones((100, 4))])
    weighted = PopulationRarity(bins=_BINS).fit(X, sample_weight=np.r_[np.ones(100), np.full(100, 0.01)])
    plain = PopulationRarity(bins=_BINS).fit(X)
    x = np.ones((1, 4))
    assert weighted.feature_rarity(x)[0, 0] > plain.feature_rarity(x)[0, 0] + 1.0
    assert weighted.n_rows_ == pytest.approx(101.0)


# ---------------------------------------------------------------- site references
def _registry_estimator(rows: int = 200) -> PopulationRarity:
    X = np.zeros((rows, len(FEATURE_NAMES)))
    return new_estimator(TrainingOptions()).fit(X)


def test_site_references_replace_an_accounts_row_and_leave_out_flagged_ones() -> None:
    est = _registry_estimator()
    refs = SiteReferences(est, prior_weight=0.0, refresh_s=3600.0)
    bins = est.bin_rows(np.zeros((3, len(FEATURE_NAMES))))
    refs.update("s1", ["a", "b", "c"], bins, np.ones(3), np.ones(3, dtype=bool))
    assert refs.live["s1"].sizes.max() == 3
    refs.update("s1", ["a"], bins[:1], np.ones(1), np.ones(1, dtype=bool))  # a's new features replace its old
    assert refs.live["s1"].sizes.max() == 3
    refs.update("s1", ["b"], bins[:1], np.ones(1), np.zeros(1, dtype=bool))  # b is flagged: out of the reference
    assert refs.live["s1"].sizes.max() == 2 and "b" not in refs.rows
    refs.update("s2", ["a"], bins[:1], np.full(1, 0.5), np.ones(1, dtype=bool))  # a moved site
    assert refs.live["s1"].sizes.max() == 1 and refs.live["s2"].sizes.max() == 0.5


def test_site_reference_is_frozen_between_refreshes() -> None:
    est = _registry_estimator()
    refs = SiteReferences(est, prior_weight=0.0, refresh_s=3600.0)
    bins = est.bin_rows(np.zeros((5, len(FEATURE_NAMES))))
    refs.update("s1", list("abcde"), bins, np.ones(5), np.ones(5, dtype=bool))
    refs.freeze_local(0.0)
    first = refs.tables("s1")
    refs.update("s1", list("fghij"), bins, np.ones(5), np.ones(5, dtype=bool))
    assert refs.share(1800.0) is None  # same refresh interval: nothing to refreeze
    assert refs.tables("s1") is first
    refs.freeze_local(3600.0)
    assert refs.tables("s1").n.max() == 10


def test_site_references_spread_over_partitions_freeze_to_their_sum() -> None:
    est = _registry_estimator()
    bins = est.bin_rows(np.zeros((4, len(FEATURE_NAMES))))
    whole = SiteReferences(est, prior_weight=0.0, refresh_s=3600.0)
    whole.update("s1", list("abcd"), bins, np.ones(4), np.ones(4, dtype=bool))
    halves = [SiteReferences(est, prior_weight=0.0, refresh_s=3600.0) for _ in range(2)]
    halves[0].update("s1", list("ab"), bins[:2], np.ones(2), np.ones(2, dtype=bool))
    halves[1].update("s1", list("cd"), bins[2:], np.ones(2), np.ones(2, dtype=bool))
    whole.freeze_local(0.0)
    parts = [half.share(0.0) for half in halves]
    for half in halves:
        half.receive_shared(parts, 0.0)
    for half in halves:
        assert np.array_equal(half.tables("s1").n, whole.tables("s1").n)
        assert half.tables("s2").n.max() == 0  # a site nobody had: the prior alone (empty here)


def test_an_operation_on_shared_devices_counts_as_few_actors_in_the_reference() -> None:
    farm = AccountState(links={"device:emu": (50, 40)})
    person = AccountState(links={"device:own": (1, 0)})
    assert reference_weight(farm) == pytest.approx(1 / 50)
    assert reference_weight(person) == 1.0 and reference_weight(AccountState()) == 1.0


# ---------------------------------------------------------------- deciding
def _model(threshold: float = 4.0) -> ModelArtifact:
    est = _registry_estimator(rows=2000)
    meta = base_metadata() | {
        "version": "sg2-test",
        "threshold": threshold,
        "reference": {"prior_weight": 1000.0, "refresh_s": 3600.0},
    }
    return ModelArtifact(est, threshold, meta)


def _batch(states: dict[str, AccountState], t: float = 1000.0) -> FeatureBatch:
    ids = list(states)
    matrix = np.array([vector(states[a]) for a in ids])
    return FeatureBatch(ids, ["93-bobigny"] * len(ids), [t] * len(ids), matrix, [states[a] for a in ids], t)


def _bot(**extra: object) -> AccountState:
    st = AccountState(
        site="93-bobigny",
        bookings=8,
        timed_bookings=8,
        fast_bookings=8,
        reactions=[0.4] * 8,
        picks=[0.3] * 8,
        instant_picks=8,
        unsearched_bookings=4,
        no_shows=3,
        asn_events=100,
        datacenter_events=100,
        holder=True,
    )
    for key, value in extra.items():
        setattr(st, key, value)
    return st


def test_an_account_with_several_kinds_of_evidence_is_flagged_with_reasons() -> None:
    detector = Detector(_model())
    facts = detector(_batch({"bot": _bot(), "person": AccountState(site="93-bobigny", bookings=1, attended=1)}))
    bot, person = detector.verdicts["bot"], detector.verdicts["person"]
    assert bot.flagged and bot.category == SCALPING and bot.reasons and bot.score >= 4.0
    assert bot.flagged_at == datetime.fromtimestamp(1000.0, UTC)
    assert not person.flagged and person.category is None and person.score == 0.0
    assert facts == [] and detector.flags_raised == 1


def test_changed_verdicts_are_reported_once_per_change_as_copies() -> None:
    """The worker's history writes verdicts as they change: new, higher, flagged; not a rescoring
    that changed nothing."""
    changed: list[Verdict] = []
    detector = Detector(_model(), on_verdict=changed.append)
    person = AccountState(site="93-bobigny", bookings=1, attended=1)
    detector(_batch({"bot": _bot(), "person": person}))
    assert sorted(v.account_id for v in changed) == ["bot", "person"]
    bot = next(v for v in changed if v.account_id == "bot")
    assert bot.flagged and bot.category == SCALPING and bot is not detector.verdicts["bot"]
    changed.clear()
    detector(_batch({"bot": _bot(), "person": person}, t=2000.0))
    assert changed == []


def test_one_behaviour_alone_never_crosses_the_threshold() -> None:
    """However rare, one family is capped below the threshold (make model enforces cap + 1 <= it)."""
    detector = Detector(_model())
    only_fast = AccountState(site="93-bobigny", bookings=40, timed_bookings=40, fast_bookings=40, reactions=[0.2])
    detector(_batch({"fast": only_fast}))
    assert not detector.verdicts["fast"].flagged
    assert detector.verdicts["fast"].score <= max(detector.estimator.family_caps_)


def test_a_flagged_seller_tells_its_buyers_and_lists_them() -> None:
    detector = Detector(_model())
    seller = _bot(handoffs_out=2, handoff_takers=[("buyer1", "slot-1"), ("buyer2", "slot-2")])
    facts = detector(_batch({"seller": seller}))
    assert detector.verdicts["seller"].buyers == ["buyer1", "buyer2"]
    assert facts == [
        SellerFlagged("buyer1", 1000.0, "seller", "slot-1"),
        SellerFlagged("buyer2", 1000.0, "seller", "slot-2"),
    ]
    assert detector(_batch({"seller": seller}, t=2000.0)) == []  # told once
    assert any("buyer1 (slot slot-1)" in r for r in detector.verdicts["seller"].reasons)


def test_a_buyer_is_judged_without_the_sellers_context_and_never_flagged() -> None:
    """The seller operated the buyer's account from his data-centre proxy and shared phone."""
    detector = Detector(_model())
    operated = dict(
        site="93-bobigny",
        bookings=1,
        handoffs_in=1,
        handoff_givers=[("seller", "slot-1", 9.0)],
        asn_events=4,
        datacenter_events=4,
        automation_ua_events=4,
        ua_events=4,
        searches=300,
        poll_hours=6.0,
        links={"device:op-phone": (12, 10), "phone:op": (12, 10)},
    )
    detector(_batch({"buyer": AccountState(**operated)}))  # type: ignore[arg-type]
    verdict = detector.verdicts["buyer"]
    assert not verdict.flagged and verdict.presumed_buyer
    bought = AccountState(**operated, flagged_sellers=["seller"])  # type: ignore[arg-type]
    detector(_batch({"buyer": bought}, t=2000.0))
    verdict = detector.verdicts["buyer"]
    assert verdict.category == RESALE_BUYER and not verdict.flagged
    assert verdict.reasons == buyer_reasons(bought)
    assert "seller" in verdict.reasons[0] and "slot-1" in verdict.reasons[0] and "victim" in verdict.reasons[0]
    assert verdict.contract_dict()["category"] == RESALE_BUYER


def test_an_account_that_resells_itself_is_flagged_even_after_buying_once() -> None:
    detector = Detector(_model())
    reseller = _bot(handoffs_in=1, flagged_sellers=["upstream"], bookings=10, handoffs_out=6, modifications=3)
    detector(_batch({"middleman": reseller}))
    assert detector.verdicts["middleman"].category != RESALE_BUYER  # most of its bookings were its own


def test_a_bot_that_also_snapped_up_cancelled_slots_is_not_presumed_a_buyer() -> None:
    detector = Detector(_model())
    detector(_batch({"bot": _bot(handoffs_in=2, handoff_givers=[("x", "s", 1.0)])}))
    assert not detector.verdicts["bot"].presumed_buyer and detector.verdicts["bot"].flagged


# ---------------------------------------------------------------- calibration
def test_threshold_calibration_bounds_the_legit_false_positive_rate() -> None:
    legit = np.linspace(0.0, 10.0, 1001)
    threshold = calibrate_threshold(legit, target_fpr=0.01, margin=0.0)
    assert (legit > threshold).mean() <= 0.01


def test_calibration_protects_the_smallest_legitimate_role_too() -> None:
    big = np.zeros(10_000)
    small = np.r_[np.zeros(95), np.full(5, 8.0)]
    assert calibrate_by_role({"ordinary": big, "association": small}, 0.01, 0.0) == 8.0
    assert calibrate_by_role({"ordinary": big, "association": small}, 0.01, 0.1) == pytest.approx(8.8)


# ---------------------------------------------------------------- explanations
def _strength(**named: float) -> np.ndarray:
    z = np.zeros(len(FEATURE_NAMES))
    for name, value in named.items():
        z[FEATURE_NAMES.index(name)] = value
    return z


def test_reasons_cite_the_most_unusual_features_with_checkable_numbers() -> None:
    st = AccountState(
        handoffs_out=4,
        handoff_out_gap_sum=12.0,
        handoff_out_example="slt-1",
        handoff_takers=[("b1", "slt-1"), ("b2", "slt-2")],
        bookings=6,
        reactions=[1.0, 1.2, 1.4],
        timed_bookings=3,
        fast_bookings=3,
        links={"device:d": (15, 12)},
    )
    reasons = explain(_strength(handoff_surprise=3.0, reaction_speed=2.5, holders_on_shared_devices=2.0), st)
    assert reasons[0] == (
        "slot slt-1 cancelled and re-booked by another account 3 s later on average (4 times, to b1, b2; of 6 bookings)"
    )
    assert reasons[1].startswith("booked 1.2 s after release (median of the last 3 bookings)")
    assert reasons[2] == (
        "shares a device with 14 other accounts, 12 of which themselves book like holders "
        "(fast, without searching, unused or resold appointments)"
    )
    assert seller_note(st) == [
        "handed slots to 2 accounts, likely its buyers (victims): b1 (slot slt-1), b2 (slot slt-2)"
    ]


def test_reasons_carry_the_models_note_on_how_unusual_each_is() -> None:
    st = AccountState(unsearched_bookings=3, bookings=3)
    reasons = explain(_strength(unsearched_surprise=2.0), st, note=lambda j, v: f"note {j} {v:.0f}")
    assert reasons == [
        "3 of 3 bookings made with no search of its own in the 30 min before (the slot was found by another "
        f"account) (note {FEATURE_NAMES.index('unsearched_surprise')} 2)"
    ]


def test_features_sharing_one_piece_of_evidence_cite_it_once() -> None:
    st = AccountState(
        searches=20000,
        gap_n=19999,
        gap_mean=3.0,
        gap_m2=0.16 * 19998,
        poll_hours_total=19,
        night_poll_hours_total=6,
        first_poll_t=1772438400.0,
        last_poll_t=1772506800.0,
    )
    reasons = explain(_strength(polling_hours=3.0, night_polling_hours=2.0, search_regularity=1.9), st)
    assert len(reasons) == 1
    assert "every 3.0 s ± 0.4 s" in reasons[0] and "nights included (6 night hours)" in reasons[0]


def test_every_feature_has_evidence_that_renders() -> None:
    st = AccountState(bookings=3, asn_events=10, datacenter_events=10, addr_events=5, addr_changes=4, ua_events=2)
    for feature in FEATURES:
        text = feature.evidence(st)
        assert isinstance(text, str) and len(text) > 10, feature.name


def test_reasons_are_never_empty() -> None:
    reasons = explain(_strength(unused_surprise=0.4, handoff_surprise=0.3), AccountState())
    assert len(reasons) == 1 and "several mildly unusual behaviours" in reasons[0]


# ---------------------------------------------------------------- artifacts
def test_artifact_round_trip(tmp_path: Path) -> None:
    original = _model()
    save(original, tmp_path / "m")
    loaded = load(tmp_path / "m")
    assert loaded.version == "sg2-test" and loaded.threshold == 4.0 and loaded.prior_weight == 1000.0
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
    save(_model(), tmp_path / "m")
    meta_path = tmp_path / "m" / METADATA_FILE
    meta = json.loads(meta_path.read_text()) | change | {"threshold": 4.0}
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=message) as caught:
        load(tmp_path / "m")
    assert "Retrain" in str(caught.value)


def test_missing_artifact_says_how_to_build_one(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="make model"):
        load(tmp_path / "nothing-here")
