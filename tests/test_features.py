"""Unit tests of each behavioural feature, computed by the real core from contract events."""

from __future__ import annotations

import math

import pytest

from features.params import PARAMS
from features.registry import FEATURE_NAMES, FEATURES, feature_set_hash, spec
from features.state import AccountState
from tests.factories import Feed

HOUR = 3600.0
DAY = 86400.0


def test_registry_declares_every_feature_once_with_meaning() -> None:
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    for feature in FEATURES:
        assert feature.description and feature.entity and feature.window and feature.unit > 0
    with pytest.raises(KeyError, match="no feature named"):
        spec("nope")
    assert len(feature_set_hash()) == 64


def test_new_account_has_no_evidence_and_booking_features_do_not_apply() -> None:
    feed = Feed()
    feed("login", 0, account_id="a", success=True)
    values = feed.features("a")
    assert values["polling_hours"] == 0 and values["fast_bookings"] == 0 and values["shared_applicants"] == 0
    assert values["device_sharing"] == 1 and values["shared_phone"] == 1
    # features about bookings or search rhythm do not apply yet: NaN, neither suspicious nor reassuring
    for name in (
        "reaction_speed",
        "pick_speed",
        "fast_booking_share",
        "no_show_rate",
        "handoff_rate",
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
    assert scalper.handoffs_out == 1 and scalper.handoff_takers == ["buyer"]
    assert scalper.handoff_out_gap_sum == pytest.approx(4.0)
    assert buyer.handoffs_in == 1 and buyer.handoff_givers == ["scalper"]
    assert buyer.fast_bookings == 0 and buyer.timed_bookings == 0
    assert feed.features("scalper")["handoff_rate"] == pytest.approx(0.6)
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
def test_no_shows_and_their_shrunk_rate() -> None:
    feed = Feed()
    for i in range(4):
        feed.release(i, f"s{i}")
        feed.book(i + 30, "a", f"s{i}", f"b{i}", applicant=f"p{i}")
    feed("booking_attended", 14 * DAY, account_id="a", booking_id="b0")
    for i in (1, 2, 3):
        feed("booking_no_show", 14 * DAY + i, account_id="a", booking_id=f"b{i}")
    values = feed.features("a")
    assert feed.state("a").no_shows == 3 and values["no_show_rate"] == pytest.approx(3.2 / 5)
    assert feed.state("a").open == {}


def test_one_odd_outcome_is_exactly_at_the_tolerance_of_the_rates() -> None:
    """1 of 1 (a single no-show, handoff or applicant change) is never evidence on its own."""
    feed = Feed()
    feed.release(0, "s1")
    feed.book(30, "a", "s1", "b1")
    feed("booking_no_show", 14 * DAY, account_id="a", booking_id="b1")
    rate = feed.features("a")["no_show_rate"]
    assert rate == spec("no_show_rate").tolerance
    assert spec("handoff_rate").tolerance == spec("applicant_change_rate").tolerance == rate


def test_applicant_changes_and_the_new_applicant_attending() -> None:
    feed = Feed()
    feed.release(0, "s1")
    feed.book(2, "a", "s1", "b1", applicant="placeholder")
    feed("booking_modified", DAY, account_id="a", booking_id="b1", applicant_id="buyer")
    feed("booking_attended", 14 * DAY, account_id="a", booking_id="b1")
    values, st = feed.features("a"), feed.state("a")
    assert st.modifications == 1 and values["applicant_change_rate"] == pytest.approx(0.6)
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


def test_only_data_centre_addresses_count_as_shared() -> None:
    """Carrier-grade NAT puts many households behind one mobile address: that is not evidence."""
    feed = Feed()
    for i in range(12):
        feed("login", i, account_id=f"dc{i}", success=True, ip="51.68.0.10", asn=16276)
        feed("login", i, account_id=f"phone{i}", success=True, ip="80.215.9.20", asn=15557)
    assert feed.features("dc11")["shared_datacenter_address"] == 12
    assert feed.features("phone11")["shared_datacenter_address"] == 1


def test_private_email_domains_and_phone_numbers_link_accounts() -> None:
    feed = Feed()
    for i in range(8):
        feed(
            "account_created",
            i * DAY,
            account_id=f"f{i}",
            email_hash=f"h{i}",
            email_domain="3f2a.online",
            phone_hash="same-phone" if i < 6 else f"p{i}",
        )
        feed("account_created", i * DAY, account_id=f"g{i}", email_hash=f"x{i}", email_domain="Gmail.com")
    assert feed.features("f7")["shared_email_domain"] == 8
    assert feed.features("f0")["shared_phone"] >= 5 and feed.features("f7")["shared_phone"] == 1
    assert feed.features("g7")["shared_email_domain"] == 1  # a public provider links nobody


def test_addresses_are_pseudonymised_in_state() -> None:
    feed = Feed()
    feed("login", 0, account_id="a", success=True, ip="192.0.2.7")
    assert "192.0.2.7" not in repr(feed.core.stores.addresses)
    assert feed.state("a").last_addr.startswith("ip:")


def test_device_shared_by_many_accounts_is_reported_to_all_of_them() -> None:
    feed = Feed()
    for i in range(12):
        feed("login", i, account_id=f"farm{i}", success=True, device_id="emulator-1")
    feed("login", 0, account_id="alone", success=True, device_id="own-phone")
    assert feed.features("farm0")["device_sharing"] >= 10
    assert feed.features("farm11")["device_sharing"] == 12
    assert feed.features("alone")["device_sharing"] == 1


def test_creation_burst_on_one_network() -> None:
    feed = Feed()
    for i in range(8):
        feed("account_created", i * 20, account_id=f"new{i}", email_hash=f"h{i}", ip=f"203.0.113.{i + 1}")
    feed("account_created", 0, account_id="other", email_hash="hx", ip="198.51.100.1")
    feed("account_created", 2 * HOUR, account_id="later", email_hash="hy", ip="203.0.113.99")
    assert feed.features("new0")["creation_burst"] == 8
    assert feed.features("other")["creation_burst"] == 1
    assert feed.features("later")["creation_burst"] == 1


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
    feed("login", 14 * DAY, account_id="c", success=True, device_id="d", ip="51.68.0.1", asn=16276)
    for i in range(12):
        feed("login", 14 * DAY + i, account_id="a", success=True, ip=f"90.{i}.0.1", asn=3215)
    neutral = dict(zip(FEATURE_NAMES, [f.compute(AccountState()) for f in FEATURES], strict=True))
    values = feed.features("a")
    for name in FEATURE_NAMES:
        assert math.isfinite(values[name]), name
        assert math.isnan(neutral[name]) or values[name] > neutral[name], f"{name} did not move off neutral"


def test_resale_and_no_shows_of_co_users_reach_every_account_on_the_device() -> None:
    feed = Feed()
    for account in ("busy", "idle", "other"):
        feed("login", 0, account_id=account, success=True, device_id="operator-pc")
    feed("login", 0, account_id="elsewhere", success=True, device_id="home-laptop")
    for i in range(3):
        feed.release(10 + i, f"s{i}")
        feed.book(20 + i, "busy", f"s{i}", f"b{i}", applicant=f"p{i}")
    feed("booking_no_show", 14 * DAY, account_id="busy", booking_id="b0")
    feed("booking_modified", DAY, account_id="busy", booking_id="b1", applicant_id="buyer")
    feed.cancel(2 * DAY, "busy", "s2", "b2")
    feed.book(2 * DAY + 4, "buyer", "s2", "b9")  # a handoff out for "busy"
    assert feed.state("idle").linked_evidence == 3
    assert feed.state("other").linked_evidence == 3
    assert feed.state("busy").linked_evidence == 0  # its own record is in its own features
    assert feed.features("idle")["linked_resale_and_no_shows"] == 3
    assert math.isnan(feed.features("elsewhere")["linked_resale_and_no_shows"])
