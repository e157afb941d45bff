"""Unit tests of each behavioural feature, computed by the real core from contract events."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from features.params import PARAMS
from features.registry import FAMILIES, FEATURE_NAMES, FEATURES, Entity, feature_set_hash, spec
from features.state import AccountState
from features.surprise import surprise
from tests.factories import Feed

HOUR = 3600.0
DAY = 86400.0


def test_registry_declares_every_feature_once_with_meaning() -> None:
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    for feature in FEATURES:
        assert feature.description and feature.reads and feature.unit > 0
        assert isinstance(feature.entity, Entity) and all(isinstance(e, Entity) for e in feature.derived_from)
        assert feature.window is None or isinstance(feature.window, timedelta)
        assert feature.family in FAMILIES and feature.window_text
    with pytest.raises(KeyError, match="no feature named"):
        spec("nope")
    assert len(feature_set_hash()) == 64


class _Recorder:
    """Stands in for an account's state and notes which fields a feature reads."""

    def __init__(self, state: AccountState) -> None:
        self._state = state
        self.read: set[str] = set()

    def __getattr__(self, name: str) -> object:
        self.read.add(name)
        return getattr(self._state, name)


def test_each_feature_reads_exactly_the_state_fields_it_declares() -> None:
    feed = Feed()
    feed.searches("a", 15 * HOUR, 3.0, 1300, ip="51.68.0.1", asn=16276, user_agent="curl/8", device_id="d", results=1)
    for i in range(3):
        feed.release(16 * HOUR + i, f"s{i}")
        _search(feed, "a", 16 * HOUR + i + 0.2, 1)
        feed.book(16 * HOUR + i + 0.5, "a", f"s{i}", f"b{i}", applicant="same")
    feed("booking_modified", 17 * HOUR, account_id="a", booking_id="b0", applicant_id="x")
    feed("booking_no_show", 14 * DAY, account_id="a", booking_id="b2")
    feed("login", 14 * DAY, account_id="c", success=True, device_id="d")
    state = feed.state("a")
    for feature in FEATURES:
        recorder = _Recorder(state)
        feature.compute(recorder)  # type: ignore[arg-type]
        assert recorder.read <= set(feature.reads), (
            f"{feature.name} reads undeclared {recorder.read - set(feature.reads)}"
        )


def test_the_feature_set_hash_covers_meaning_not_source_text() -> None:
    from dataclasses import replace

    from features import registry

    base = feature_set_hash()
    assert feature_set_hash() == base
    changed = replace(PARAMS, late_cancel_s=PARAMS.late_cancel_s + 1)
    assert feature_set_hash(changed) != base
    original = registry.FEATURES
    try:
        registry.FEATURES = (replace(original[0], unit=original[0].unit * 2), *original[1:])
        assert feature_set_hash() != base
    finally:
        registry.FEATURES = original


def test_new_account_has_no_evidence_and_booking_features_do_not_apply() -> None:
    feed = Feed()
    feed("login", 0, account_id="a", success=True)
    values = feed.features("a")
    assert values["polling_hours"] == 0 and values["fast_bookings"] == 0 and values["shared_applicants"] == 0
    assert values["holders_on_shared_devices"] == 0 and values["holders_on_shared_registration"] == 0
    # features about bookings or search rhythm do not apply yet: NaN, neither suspicious nor reassuring
    for name in (
        "reaction_speed",
        "pick_speed",
        "fast_booking_share",
        "unused_surprise",
        "unsearched_surprise",
        "handoff_surprise",
        "search_regularity",
        "address_churn",
    ):
        assert math.isnan(values[name]), name


# ---------------------------------------------------------------- polling
def test_polling_hours_count_hours_with_sustained_searching() -> None:
    feed = Feed()
    feed.searches("bot", 0, 10.0, 360 * 3)  # every 10 s for 3 hours from 09:00
    feed.searches("human", 0, 600.0, 18)  # every 10 minutes
    assert feed.features("bot")["polling_hours"] == pytest.approx(3.0, abs=0.05)
    assert feed.features("human")["polling_hours"] == 0


def test_night_polling_uses_the_local_time_of_the_event() -> None:
    feed = Feed()
    night_start = 15 * HOUR  # 09:00 + 15 h = 00:00 local (+01:00)
    feed.searches("night", night_start, 30.0, 120 * 3)
    feed.searches("day", 0, 30.0, 120 * 3)
    assert feed.features("night")["night_polling_hours"] == pytest.approx(3.0, abs=0.05)
    assert feed.features("day")["night_polling_hours"] == 0
    assert feed.features("day")["polling_hours"] == pytest.approx(3.0, abs=0.05)


def test_polling_hours_decay_with_event_time() -> None:
    feed = Feed()
    feed.searches("a", 0, 10.0, 360 * 2 + 1)
    fresh = feed.features("a")["polling_hours"]
    feed("login", PARAMS.poll_half_life_s + 2 * HOUR, account_id="a", success=True)
    assert feed.features("a")["polling_hours"] == pytest.approx(fresh / 2, rel=0.05)


def test_search_regularity_separates_machine_timing_from_human_timing() -> None:
    feed = Feed()
    feed.searches("metronome", 0, 5.0, 100)
    at = 0.0
    for i in range(100):
        at += 20.0 + (i * 37 % 11) * 15.0  # irregular pauses of 20 s to 3 min
        feed("slot_search", at, account_id="human", service="s", results=0)
    assert feed.features("metronome")["search_regularity"] == 3.0
    assert feed.features("human")["search_regularity"] < 0.5


def test_long_pauses_do_not_count_as_search_intervals() -> None:
    feed = Feed()
    feed.searches("a", 0, 5.0, 30)
    feed.searches("a", 5 * HOUR, 5.0, 30)
    assert feed.state("a").gap_n == 58
    assert feed.state("a").gap_mean == pytest.approx(5.0)


# ---------------------------------------------------------------- booking speed and handoffs
def test_fast_booking_after_release_is_counted_with_its_reaction() -> None:
    feed = Feed()
    for i in range(4):
        feed.release(i * HOUR, f"s{i}")
        feed.book(i * HOUR + 1.2, "bot", f"s{i}", f"b{i}", applicant=f"p{i}")
    feed.release(10 * HOUR, "s9")
    feed.book(10 * HOUR + 95, "human", "s9", "b9")
    bot, human = feed.features("bot"), feed.features("human")
    assert bot["fast_bookings"] == 4 and bot["fast_booking_share"] == 1.0
    assert bot["reaction_speed"] == pytest.approx(-math.log10(1.2))
    assert human["fast_bookings"] == 0 and human["reaction_speed"] == pytest.approx(-math.log10(95))


def _search(feed: Feed, account: str, at: float, results: int) -> None:
    feed("slot_search", at, account_id=account, service="titre-sejour", results=results)


def test_pick_is_timed_from_the_search_that_showed_the_slot() -> None:
    feed = Feed()
    feed.release(0, "s1")
    _search(feed, "script", 10.0, 1)
    feed.book(10.4, "script", "s1", "b1")
    feed.release(100, "s2")
    _search(feed, "person", 105.0, 0)
    _search(feed, "person", 120.0, 1)
    feed.book(131.0, "person", "s2", "b2")
    assert feed.state("script").instant_picks == 1
    assert feed.features("script")["pick_speed"] == pytest.approx(-math.log10(0.4))
    assert feed.state("person").instant_picks == 0
    assert feed.features("person")["pick_speed"] == pytest.approx(-math.log10(11.0))


def test_a_second_tab_refreshing_just_before_the_booking_does_not_look_instant() -> None:
    feed = Feed()
    feed.release(0, "s1")
    _search(feed, "person", 5.0, 1)  # tab A shows the slot
    _search(feed, "person", 14.8, 1)  # tab B refreshes, still showing it
    feed.book(15.0, "person", "s1", "b1")  # booked from tab A, 10 s after it showed the slot
    assert feed.state("person").instant_picks == 0
    assert feed.state("person").picks == [pytest.approx(10.0)]


def test_a_search_logged_at_the_instant_of_the_booking_is_not_the_pick() -> None:
    feed = Feed()
    feed.release(0, "s1")
    feed.release(0, "s2")
    _search(feed, "office", 3.0, 2)
    feed.book(12.0, "office", "s1", "b1", applicant="client-1")
    _search(feed, "office", 30.0, 1)  # same millisecond as the next booking (a tie in event time)
    feed.book(30.0, "office", "s2", "b2", applicant="client-2")
    assert feed.state("office").instant_picks == 0
    assert feed.state("office").picks == [pytest.approx(9.0), pytest.approx(27.0)]


def test_a_buyer_told_to_book_now_is_not_counted_as_a_fast_picker() -> None:
    feed = Feed()
    feed.release(0, "s1")
    feed.book(1.0, "scalper", "s1", "b1", applicant="placeholder")
    feed("booking_cancelled", DAY, account_id="scalper", booking_id="b1", slot_id="s1")
    feed.release(DAY + 0.2, "s1", reason="cancellation")
    _search(feed, "buyer", DAY + 5.0, 1)
    feed.book(DAY + 5.8, "buyer", "s1", "b2", applicant="buyer-identity")
    buyer = feed.state("buyer")
    assert buyer.handoffs_in == 1
    assert buyer.instant_picks == 0 and buyer.picks == []


def test_cancel_then_rebook_by_another_account_is_a_handoff_not_a_fast_booking() -> None:
    feed = Feed()
    feed.release(0, "s1")
    feed.book(1.0, "scalper", "s1", "b1", applicant="placeholder")
    feed.cancel(2 * DAY, "scalper", "s1", "b1")
    feed.book(2 * DAY + 4.0, "buyer", "s1", "b2", applicant="buyer-identity")
    scalper, buyer = feed.state("scalper"), feed.state("buyer")
    assert scalper.handoffs_out == 1 and scalper.handoff_takers == [("buyer", "s1")]
    assert scalper.handoff_out_gap_sum == pytest.approx(4.0)
    assert buyer.handoffs_in == 1 and buyer.handoff_givers == [("scalper", "s1", pytest.approx(4.0))]
    assert buyer.fast_bookings == 0 and buyer.timed_bookings == 0
    assert feed.features("scalper")["handoff_surprise"] == pytest.approx(surprise(1, 1, 0.05))
    assert feed.state("buyer").handoffs_out == 0


def test_rebooking_your_own_cancelled_slot_or_after_the_window_is_no_handoff() -> None:
    feed = Feed()
    feed.release(0, "s1")
    feed.book(60, "a", "s1", "b1")
    feed.cancel(DAY, "a", "s1", "b1")
    feed.book(DAY + 3, "a", "s1", "b2")
    feed.cancel(2 * DAY, "a", "s1", "b2")
    feed.book(2 * DAY + PARAMS.handoff_window_s + 30, "b", "s1", "b3")
    assert feed.state("a").handoffs_out == 0
    assert feed.state("b").handoffs_in == 0
    assert feed.state("b").timed_bookings == 1


# ---------------------------------------------------------------- outcomes
def test_no_shows_and_how_surprising_they_are() -> None:
    feed = Feed()
    for i in range(4):
        feed.release(i, f"s{i}")
        feed.book(i + 30, "a", f"s{i}", f"b{i}", applicant=f"p{i}")
    feed("booking_attended", 14 * DAY, account_id="a", booking_id="b0")
    for i in (1, 2, 3):
        feed("booking_no_show", 14 * DAY + i, account_id="a", booking_id=f"b{i}")
    values = feed.features("a")
    assert feed.state("a").no_shows == 3
    assert values["unused_surprise"] == pytest.approx(surprise(3, 4, PARAMS.applicant_unused_rate))
    assert feed.state("a").open == {}


def test_one_odd_outcome_of_one_booking_weighs_what_chance_gives_it_and_makes_no_holder() -> None:
    """1 of 1 (a single no-show, handoff or applicant change): as surprising as the applicant's rate."""
    feed = Feed()
    feed.release(0, "s1")
    _search(feed, "a", 10.0, 1)
    feed.book(30, "a", "s1", "b1")
    feed("booking_no_show", 14 * DAY, account_id="a", booking_id="b1")
    assert feed.features("a")["unused_surprise"] == pytest.approx(-math.log10(PARAMS.applicant_unused_rate))
    assert not feed.state("a").holder
    for name in ("unsearched_surprise", "unused_surprise", "handoff_surprise", "applicant_change_surprise"):
        assert spec(name).absolute and math.isinf(spec(name).tolerance)


def test_applicant_changes_and_the_new_applicant_attending() -> None:
    feed = Feed()
    feed.release(0, "s1")
    feed.book(2, "a", "s1", "b1", applicant="placeholder")
    feed("booking_modified", DAY, account_id="a", booking_id="b1", applicant_id="buyer")
    feed("booking_attended", 14 * DAY, account_id="a", booking_id="b1")
    values, st = feed.features("a"), feed.state("a")
    assert st.modifications == 1
    assert values["applicant_change_surprise"] == pytest.approx(-math.log10(PARAMS.applicant_change_rate))
    assert st.modified_then_attended == 1


def test_applicant_identity_reused_across_accounts_is_reported() -> None:
    feed = Feed()
    for i, account in enumerate(["f1", "f2", "f3"]):
        feed.release(i * 10, f"s{i}")
        feed.book(i * 10 + 1, account, f"s{i}", f"b{i}", applicant="fake-identity")
    assert feed.features("f1")["shared_applicants"] == 0
    assert feed.features("f2")["shared_applicants"] == 1
    assert feed.features("f3")["shared_applicants"] == 1


def test_family_booking_for_relatives_is_not_a_shared_identity() -> None:
    feed = Feed()
    for i, relative in enumerate(["mum", "dad", "kid"]):
        feed.release(i * 10, f"s{i}")
        feed.book(i * 10 + 40, "family", f"s{i}", f"b{i}", applicant=relative)
    values = feed.features("family")
    assert values["shared_applicants"] == 0
    held = feed.state("family").open
    assert sorted(b.applicant_id for b in held.values()) == ["dad", "kid", "mum"]


# ---------------------------------------------------------------- infrastructure and sharing
def test_datacenter_share_address_churn_and_automation_agents() -> None:
    feed = Feed()
    for i in range(10):
        feed("login", i, account_id="bot", success=True, ip="51.68.0.10", asn=16276, user_agent="python-requests/2.31")
        feed("login", i, account_id="proxy", success=True, ip=f"90.{i}.1.2", asn=3215, user_agent="Mozilla/5.0")
    bot, proxy = feed.features("bot"), feed.features("proxy")
    assert bot["datacenter_share"] == 1.0 and bot["automation_agent_share"] == 1.0 and bot["address_churn"] == 0
    assert proxy["datacenter_share"] == 0 and proxy["automation_agent_share"] == 0
    assert proxy["address_churn"] == 1.0


def _holders(feed: Feed, accounts: list[str], start: float = 1000.0) -> None:
    """Make each account a holder by its own behaviour: a booking half a second after a release."""
    for i, account in enumerate(accounts):
        feed.release(start + 10 * i, f"hs{account}")
        feed.book(start + 10 * i + 0.5, account, f"hs{account}", f"hb{account}", applicant=f"ha{account}")


def test_only_data_centre_addresses_are_shared_links() -> None:
    """Carrier-grade NAT puts many households behind one mobile address: that links nobody."""
    feed = Feed()
    for i in range(12):
        feed("login", i, account_id=f"dc{i}", success=True, ip="51.68.0.10", asn=16276)
        feed("login", i, account_id=f"phone{i}", success=True, ip="80.215.9.20", asn=15557)
    assert [counts[0] for name, counts in feed.state("dc11").links.items() if name.startswith("address:")] == [12]
    assert feed.state("phone11").links == {}


def test_a_shared_device_alone_is_never_evidence_however_many_share_it() -> None:
    """60 strangers on one cyber-café PC, none behaving like a holder: nothing to see."""
    feed = Feed()
    for i in range(60):
        feed("login", i, account_id=f"visitor{i}", success=True, device_id="cafe-pc-1", ip="198.51.100.7")
    assert feed.state("visitor59").links["device:cafe-pc-1"] == (60, 0)
    assert feed.state("visitor0").links["device:cafe-pc-1"] == (48, 0)  # the last count announced to all
    assert feed.features("visitor0")["holders_on_shared_devices"] == 0
    assert feed.features("visitor59")["holders_on_shared_devices"] == 0


def test_holders_on_a_shared_device_reach_the_other_accounts_on_it() -> None:
    feed = Feed()
    for account in ("busy1", "busy2", "busy3", "idle"):
        feed("login", 0, account_id=account, success=True, device_id="operator-phone")
    feed("login", 0, account_id="elsewhere", success=True, device_id="home-laptop")
    _holders(feed, ["busy1", "busy2", "busy3"])
    assert feed.state("busy1").holder and not feed.state("idle").holder
    # 3 holders among the idle account's 3 co-users: 3 * 3 / (3 + 1)
    assert feed.features("idle")["holders_on_shared_devices"] == pytest.approx(9 / 4)
    # a holder counts the others only: 2 holders among its 3 co-users
    assert feed.features("busy1")["holders_on_shared_devices"] == pytest.approx(4 / 4)
    assert feed.features("elsewhere")["holders_on_shared_devices"] == 0


def test_a_few_holders_among_many_strangers_weigh_little() -> None:
    feed = Feed()
    for i in range(40):
        feed("login", i, account_id=f"visitor{i}", success=True, device_id="library-pc")
    _holders(feed, ["visitor0", "visitor1"])
    value = feed.features("visitor39")["holders_on_shared_devices"]
    assert value == pytest.approx(2 * 2 / 40)
    assert value < spec("holders_on_shared_devices").tolerance


def test_holders_are_announced_to_accounts_that_join_later() -> None:
    feed = Feed()
    for account in ("h1", "h2"):
        feed("login", 0, account_id=account, success=True, device_id="farm-emulator")
    _holders(feed, ["h1", "h2"])
    feed("login", 5000, account_id="newcomer", success=True, device_id="farm-emulator")
    assert feed.state("newcomer").links["device:farm-emulator"] == (3, 2)
    assert feed.features("newcomer")["holders_on_shared_devices"] == pytest.approx(4 / 3)


def test_private_email_domains_phones_and_creation_bursts_link_accounts() -> None:
    feed = Feed()
    for i in range(8):
        feed(
            "account_created",
            i * 20,
            account_id=f"f{i}",
            email_hash=f"h{i}",
            email_domain="3f2a.online",
            phone_hash="same-phone" if i < 6 else f"p{i}",
            ip=f"203.0.113.{i + 1}",
        )
        feed("account_created", i * 86400, account_id=f"g{i}", email_hash=f"x{i}", email_domain="Gmail.com")
    feed("account_created", 2 * HOUR, account_id="later", email_hash="hy", ip="203.0.113.99")
    links = feed.state("f7").links
    assert links["domain:3f2a.online"][0] == 8
    assert max(v[0] for k, v in feed.state("f0").links.items() if k.startswith("phone:")) >= 5
    assert max(v[0] for k, v in links.items() if k.startswith("cohort:")) == 8
    assert feed.state("g7").links == {}  # a public provider links nobody
    assert not any(k.startswith("cohort:") for k in feed.state("later").links)  # two hours later: a new cohort
    _holders(feed, [f"f{i}" for i in range(6)], start=3 * HOUR)
    assert feed.features("f7")["holders_on_shared_registration"] == pytest.approx(36 / 8)


def test_addresses_are_pseudonymised_in_state() -> None:
    feed = Feed()
    feed("login", 0, account_id="a", success=True, ip="192.0.2.7")
    assert "192.0.2.7" not in repr(feed.core.stores.addresses)
    assert feed.state("a").last_addr.startswith("ip:")


def test_every_feature_moves_off_neutral_in_some_scene() -> None:
    """Guard against a feature that is dead (constant) or stays NaN when it applies."""
    feed = Feed()
    feed(
        "account_created", 0, account_id="n1", email_hash="h", ip="203.0.113.1", email_domain="x.site", phone_hash="ph"
    )
    feed("account_created", 1, account_id="a", email_hash="h", ip="203.0.113.2", email_domain="x.site", phone_hash="ph")
    feed.searches("a", 15 * HOUR, 3.0, 1300, ip="51.68.0.1", asn=16276, user_agent="curl/8", device_id="d", results=1)
    for i in range(3):
        feed.release(16 * HOUR + i, f"s{i}")
        _search(feed, "a", 16 * HOUR + i + 0.2, 1)
        feed.book(16 * HOUR + i + 0.5, "a", f"s{i}", f"b{i}", applicant="same")
    feed("booking_modified", 17 * HOUR, account_id="a", booking_id="b0", applicant_id="x")
    feed.cancel(18 * HOUR, "a", "s1", "b1")
    feed.book(18 * HOUR + 3, "b", "s1", "b9")
    feed("booking_no_show", 14 * DAY, account_id="a", booking_id="b2")
    for i in range(3):  # a watcher's finds booked by other accounts without searching ...
        _watched_booking(feed, "watcher", f"f{i}", 10 * DAY + i * 600, f"ws{i}")
    _search(feed, "watcher", 14 * DAY - 60, 0)
    _search(feed, "watcher", 14 * DAY + 0.5, 1)
    feed.release(14 * DAY + 1, "s7")
    feed.book(14 * DAY + 1.5, "a", "s7", "b7", applicant="other")  # ... and by this one: no search for hours
    feed("login", 14 * DAY, account_id="c", success=True, device_id="d", ip="51.68.0.1", asn=16276)
    _holders(feed, ["c", "n1"], start=14 * DAY + 10)
    for i in range(12):
        feed("login", 14 * DAY + i, account_id="a", success=True, ip=f"90.{i}.0.1", asn=3215)
    neutral = dict(zip(FEATURE_NAMES, [f.compute(AccountState()) for f in FEATURES], strict=True))
    values = feed.features("a")
    for name in FEATURE_NAMES:
        assert math.isfinite(values[name]), name
        assert math.isnan(neutral[name]) or values[name] > neutral[name], f"{name} did not move off neutral"


# ---------------------------------------------------------------- split roles, unused holds, breadth
def test_a_booking_without_a_search_of_its_own_is_counted() -> None:
    feed = Feed()
    _search(feed, "watcher", 0.0, 1)  # the watcher sees the slot ...
    feed.release(0, "s1")
    feed.book(4.0, "booker", "s1", "b1", applicant="p1")  # ... another account books it, never having searched
    feed.release(100, "s2")
    _search(feed, "person", 100.0, 0)
    _search(feed, "person", 160.0, 1)
    feed.book(175.0, "person", "s2", "b2")
    assert feed.state("booker").unsearched_bookings == 1 and feed.state("person").unsearched_bookings == 0
    assert feed.features("booker")["unsearched_surprise"] == pytest.approx(
        -math.log10(PARAMS.applicant_unsearched_rate)
    )
    assert feed.features("person")["unsearched_surprise"] == 0
    assert feed.state("booker").holder and not feed.state("person").holder
    _search(feed, "watcher", 300.0, 1)
    feed.release(300, "s3")
    feed.book(303.0, "booker", "s3", "b3", applicant="p3")
    assert feed.features("booker")["unsearched_surprise"] == pytest.approx(surprise(2, 2, 0.05))


def _watched_booking(feed: Feed, watcher: str, booker: str, at: float, slot: str, gap: float = 2.0) -> None:
    """``watcher``'s search shows a free slot; ``booker``, who never searched, books it ``gap`` s later."""
    _search(feed, watcher, at - 120, 0)
    feed.release(at - 1, slot)
    _search(feed, watcher, at, 1)
    feed.book(at + gap, booker, slot, "b-" + slot, applicant="p-" + slot)


def test_accounts_booking_what_one_watcher_finds_are_linked_through_it() -> None:
    """Split roles: one account searches, five others book its finds seconds later without searching."""
    feed = Feed()
    for i in range(5):
        _watched_booking(feed, "watcher", f"booker{i}", 1000.0 + i * 900, f"s{i}")
    # every booker is a holder by its own unsearched booking; each hears of the 4 others
    assert feed.features("booker0")["holders_sharing_a_watcher"] == pytest.approx(4 * 4 / (5 + 1))
    assert feed.features("booker4")["holders_sharing_a_watcher"] == pytest.approx(4 * 4 / (5 + 1))
    assert feed.features("watcher")["holders_sharing_a_watcher"] == pytest.approx(5 * 5 / (5 + 1))
    reason = spec("holders_sharing_a_watcher").evidence(feed.state("booker0"))
    assert "watcher account watcher" in reason and "4 of the others book like holders" in reason


def test_a_stranger_whose_search_came_before_a_booking_is_no_watcher_for_long() -> None:
    """An anxious applicant's search showing slots seconds before one stranger's unsearched booking
    links the two, and weighs nothing: the ring needs several holders. A booker who searched
    himself, a search older than the window and a received handoff link nobody."""
    feed = Feed()
    _watched_booking(feed, "anxious", "stranger", 1000.0, "s1")
    assert feed.features("anxious")["holders_sharing_a_watcher"] == pytest.approx(1 / 2)
    assert feed.features("stranger")["holders_sharing_a_watcher"] == 0
    assert spec("holders_sharing_a_watcher").tolerance >= 1 / 2
    _search(feed, "person", 2000.0, 1)
    _watched_booking(feed, "anxious", "person", 2010.0, "s2")  # the person found it himself
    _watched_booking(feed, "anxious", "late", 3000.0, "s3", gap=PARAMS.watch_window_s + 1)
    feed.release(4000, "s4")
    feed.book(4030, "seller", "s4", "b4", applicant="placeholder")
    _search(feed, "anxious", 5000, 0)
    feed.cancel(5001, "seller", "s4", "b4")
    _search(feed, "anxious", 5002, 1)
    feed.book(5003, "buyer", "s4", "b5", applicant="buyer")  # the seller rebooks in the buyer's account
    for account in ("person", "late", "buyer"):
        assert not any(name.startswith("watcher:") for name in feed.state(account).links), account
    assert feed.features("anxious")["holders_sharing_a_watcher"] == pytest.approx(1 / 2)


def test_a_relayed_find_is_traced_to_the_last_few_accounts_that_saw_free_slots() -> None:
    """A human relay takes a minute: the booking is traced to the latest ``watch_candidates`` other
    accounts whose searches showed free slots in the window, the watcher among them; an earlier
    one is not."""
    feed = Feed()
    seen = ["early", "watcher", "n1", "n2"]
    for i, account in enumerate(seen):
        _search(feed, account, 900.0 + i, 0)
        _search(feed, account, 1000.0 + 10 * i, 1)
    feed.release(990, "s1")
    feed.book(1030.0 + 60, "booker", "s1", "b1", applicant="p1")  # a minute after the last find
    linked = {name.partition(":")[2] for name in feed.state("booker").links if name.startswith("watcher:")}
    assert PARAMS.watch_candidates == 3 and PARAMS.watch_window_s >= 90
    assert linked == {"watcher", "n1", "n2"}


def test_a_slot_received_by_handoff_is_not_the_receivers_own_unsearched_booking() -> None:
    """The seller logs into the buyer's account and rebooks the slot himself, without searching."""
    feed = Feed()
    feed.release(0, "s1")
    feed.book(30, "seller", "s1", "b1", applicant="placeholder")
    feed.cancel(DAY, "seller", "s1", "b1")
    feed.book(DAY + 6, "buyer", "s1", "b2", applicant="buyer-identity")
    buyer = feed.state("buyer")
    assert buyer.handoffs_in == 1 and buyer.unsearched_bookings == 0 and not buyer.holder


def test_cancelling_days_before_the_appointment_is_an_unused_hold() -> None:
    feed = Feed()
    for i, (booked, cancelled) in enumerate([(0, 12 * DAY), (10, 13 * DAY)]):
        feed.release(booked, f"s{i}")
        feed.book(booked + 40, "holder", f"s{i}", f"b{i}", applicant=f"p{i}")
        feed("booking_cancelled", cancelled, account_id="holder", booking_id=f"b{i}", slot_id=f"s{i}")
    feed.release(20, "s9")
    feed.book(60, "planner", "s9", "b9")
    feed("booking_cancelled", 2 * DAY, account_id="planner", booking_id="b9", slot_id="s9")  # 12 days ahead
    holder, planner = feed.state("holder"), feed.state("planner")
    assert holder.late_cancels == 2 and holder.cancellations == 2 and holder.holder
    assert planner.late_cancels == 0 and planner.cancellations == 1
    assert feed.features("holder")["unused_surprise"] == pytest.approx(surprise(2, 2, PARAMS.applicant_unused_rate))


def test_a_late_cancellation_that_becomes_a_handoff_counts_once_and_an_office_stays_unsurprising() -> None:
    feed = Feed()
    # one booking, handed to another account the day before the appointment
    feed.release(0, "s1")
    feed.book(40, "farmed", "s1", "b1", applicant="p1")
    feed.cancel(13 * DAY, "farmed", "s1", "b1")
    feed.book(13 * DAY + 20, "someone", "s1", "b2")
    # an office: fifty bookings, one of them handed over, one applicant corrected
    for i in range(50):
        feed.release(100 + i, f"o{i}")
        _search(feed, "office", 100 + i + 5.0, 1)
        feed.book(100 + i + 30.0, "office", f"o{i}", f"ob{i}", applicant=f"client{i}")
    feed.cancel(2 * DAY, "office", "o3", "ob3")
    feed.book(2 * DAY + 50, "someone-else", "o3", "x3")
    feed("booking_modified", 2 * DAY, account_id="office", booking_id="ob4", applicant_id="client4-fixed")
    farmed, office = feed.state("farmed"), feed.features("office")
    assert farmed.handoffs_out == 1 and farmed.late_cancels == 0  # a handoff, not also an unused hold
    assert feed.features("farmed")["handoff_surprise"] == pytest.approx(-math.log10(PARAMS.applicant_handoff_rate))
    assert office["handoff_surprise"] < 0.1 and office["applicant_change_surprise"] < 0.1
    assert not feed.state("office").holder


def test_a_flagged_sellers_fact_names_the_seller_to_its_buyer() -> None:
    from features.facts import SellerFlagged

    feed = Feed()
    account, became_holder, _board = feed.core.apply_fact(SellerFlagged("buyer", 100.0, "seller", "s1"))
    assert account == "buyer" and not became_holder
    assert feed.state("buyer").flagged_sellers == ["seller"]
