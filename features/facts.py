"""Facts: what an entity-keyed step tells the account-keyed step.

State keyed by something other than the account (a slot, a device, an address, a network, an
applicant) lives with that key. When a change there concerns an account, the entity step emits
a small fact addressed to that account; the account step folds it into the account's state. In
the embedded runner facts are applied at once, in-process; in the stream they travel on a topic
keyed by ``account_id``. Facts are tagged structs so they serialise the same way everywhere.
"""

from __future__ import annotations

from typing import Literal

from msgspec import Struct


class Fact(Struct, tag_field="fact", frozen=True, array_like=True):
    """Base: every fact is addressed to one account at one event time."""

    account_id: str
    t: float


class BookingTimed(Fact, tag="timed", frozen=True, array_like=True):
    """The account booked a slot ``reaction_s`` seconds after it became free."""

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
    """Something the account uses (a device, a data-centre address, a private e-mail domain, a
    phone number) is now shared by ``count`` accounts."""

    kind: Literal["device", "address", "domain", "phone"]
    count: int


class LinkedEvidence(Fact, tag="ring", frozen=True, array_like=True):
    """Other accounts on a device this account uses have handed over, re-assigned or left unused
    ``count`` appointments in all (resale and no-show events)."""

    count: int


class CreationBurst(Fact, tag="burst", frozen=True, array_like=True):
    """``count`` accounts (this one included) were created from the account's network within minutes."""

    count: int


class ApplicantShared(Fact, tag="applicant", frozen=True, array_like=True):
    """The applicant the account just booked for was also booked by other accounts or many times."""

    applicant_id: str
    accounts: int
    bookings: int


AnyFact = BookingTimed | HandoffOut | HandoffIn | Linked | LinkedEvidence | CreationBurst | ApplicantShared
