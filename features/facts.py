"""Facts: what an entity-keyed step tells the account-keyed step.

State keyed by something other than the account (a slot, a device, an address, a network, an
applicant) lives with that key. When a change there concerns an account, the entity step emits
a small fact addressed to that account; the account step folds it into the account's state. In
the embedded runner facts are applied at once, in-process; in the stream they travel on a topic
keyed by ``account_id``. Facts are tagged structs so they serialise the same way everywhere.
One fact comes from the deciding side instead: ``SellerFlagged``, which tells a buyer its seller was
flagged, so its verdict can say it is a victim.
"""

from __future__ import annotations

from typing import Literal

from msgspec import Struct


class Fact(Struct, tag_field="fact", frozen=True, array_like=True):
    """Base: every fact is addressed to one account at one event time."""

    account_id: str
    t: float


class BookingTimed(Fact, tag="timed", frozen=True, array_like=True):
    """The account booked a slot ``reaction_s`` seconds after it became free (-1: release not seen),
    and nobody had just handed it over: the booking was the account's own pick."""

    slot_id: str
    reaction_s: float
    reason: str


class HandoffOut(Fact, tag="handoff_out", frozen=True, array_like=True):
    """The account cancelled a slot and another account (``taker``) booked it ``gap_s`` later."""

    slot_id: str
    gap_s: float
    taker: str


class HandoffIn(Fact, tag="handoff_in", frozen=True, array_like=True):
    """The account booked a slot ``gap_s`` after another account (``giver``) cancelled it."""

    slot_id: str
    gap_s: float
    giver: str


class Linked(Fact, tag="linked", frozen=True, array_like=True):
    """Something the account uses (``kind:key``: a device, a data-centre address, a private e-mail
    domain, a phone number, a creation cohort) is shared by ``accounts`` accounts, ``holders`` of
    which behave like holders of slots (see ``features.core.is_holder``)."""

    kind: Literal["device", "address", "domain", "phone", "cohort"]
    key: str
    accounts: int
    holders: int


class ApplicantShared(Fact, tag="applicant", frozen=True, array_like=True):
    """The applicant the account just booked for was also booked by other accounts or many times."""

    applicant_id: str
    accounts: int
    bookings: int


class SellerFlagged(Fact, tag="seller_flagged", frozen=True, array_like=True):
    """An account that handed this account a slot (``slot_id``) has been flagged for scalping:
    this account bought a resold slot. Sent by the detector, not by an entity step."""

    seller: str
    slot_id: str


AnyFact = BookingTimed | HandoffOut | HandoffIn | Linked | ApplicantShared | SellerFlagged
