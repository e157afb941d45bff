"""Definitional constants of the features: changing one changes what a feature means.

They are part of the feature-set hash stored with every model, so a model is never served
features computed under different definitions than the ones it was trained on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from features.config import DAY


@dataclass(frozen=True)
class FeatureParams:
    """Thresholds and windows the feature definitions use."""

    #: a booking within this many seconds of the slot becoming free is "fast" (no human does it)
    fast_booking_s: float = 2.0
    #: a booking this soon after the search that showed the slot was picked by a script
    instant_pick_s: float = 1.5
    #: a booking is timed from a search of the account's at most this long before it
    pick_window_s: float = 600.0
    #: a cancel followed by another account's booking of the same slot within this is a handoff
    handoff_window_s: float = 120.0
    #: an hour with at least this many searches is an hour of polling
    poll_min_per_hour: int = 60
    #: local hours [start, end) count as night
    night_start_h: int = 0
    night_end_h: int = 6
    #: a pause longer than this between searches ends a search session (not an interval)
    search_gap_max_s: float = 600.0
    #: polling-hour counters halve over this much event time
    poll_half_life_s: float = 3.5 * DAY
    #: account creations from one network within this window form a burst
    burst_window_s: float = 600.0
    #: an account re-announces its device/address to the entity step at most this often
    link_refresh_s: float = 3600.0
    #: an applicant booked at least this many times (or by two accounts) is a shared identity
    applicant_shared_bookings: int = 3
    #: an open booking with no outcome is forgotten this long after its appointment
    open_booking_grace_s: float = 2 * DAY
    #: a cancellation this close to the appointment gives a held slot back too late for most applicants
    late_cancel_s: float = 3 * DAY
    #: a booking with no search of the account's own within this long before it was not picked by the account
    search_before_booking_s: float = 1800.0
    #: a booking with no search of its own this soon after another account's search showed free slots
    #: at the same site and service booked what that search found (split roles: a watcher, bookers)
    watch_window_s: float = 120.0
    #: how many of the latest other accounts whose searches showed free slots in that window a booking
    #: made without searching is traced to (the watcher is among the last few, not always the last)
    watch_candidates: int = 3
    #: how long a site's board remembers the searches that showed free slots
    board_memory_s: float = 3600.0
    #: assumed rates at which an applicant's booking ends so (a modelling assumption, not fitted): the
    #: surprise of "k of n" bookings (``features.surprise``) is judged against them
    applicant_handoff_rate: float = 0.05
    applicant_change_rate: float = 0.05
    applicant_unused_rate: float = 0.15
    applicant_unsearched_rate: float = 0.05

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


PARAMS = FeatureParams()

#: sharing counts (accounts on a link, holders among them) are announced to every account on the link
#: when they reach one of these (bounded fan-out); in between, only the account that joined hears
LINK_REPORT_STEPS = frozenset({1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64, 96, 128, 192, 256})
