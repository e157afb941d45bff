"""Messages between steps: work for entity-keyed steps, facts for the account-keyed step.

State keyed by something other than the account (a slot, a device, an address, a network, an
applicant) lives with that key. When a change there concerns an account, the entity step emits
a small fact addressed to that account; the account step folds it into the account's state. In
the embedded runner facts are applied at once, in-process; in the stream they travel on a topic
keyed by ``account_id``. The account step tells entity steps what concerns them the same way, with
*work* (``SlotWork``, ``ApplicantWork``, ``LinkWork``, ``CreationWork``, ``BoardWork``) addressed to the entity
(``route_key``). Messages are tagged structs so they serialise the same way everywhere.
One fact comes from the deciding side instead: ``SellerFlagged``, which tells a buyer its seller was
flagged, so its verdict can say it is a victim.
"""

from __future__ import annotations

from typing import Literal

from msgspec import Struct

#: what accounts can share (``features.state.LINK_KINDS``)
LinkKind = Literal["device", "address", "domain", "phone", "cohort", "watcher"]


class Message(Struct, tag_field="msg", frozen=True, array_like=True):
    """Base of everything one step sends another."""


class Fact(Message, frozen=True, array_like=True):
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
    domain, a phone number, a creation cohort, a watcher whose finds it booked) is shared by
    ``accounts`` accounts, ``holders`` of which behave like holders of slots (see
    ``features.core.is_holder``)."""

    kind: LinkKind
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


class Work(Message, frozen=True, array_like=True):
    """Base: something an entity-keyed step must hear of, addressed to that entity."""


class SlotWork(Work, tag="slot", frozen=True, array_like=True):
    """The slot was released (``released``), cancelled or booked by ``account_id``."""

    slot_id: str
    action: Literal["released", "cancelled", "booked"]
    account_id: str
    reason: str = ""


class ApplicantWork(Work, tag="applicant_use", frozen=True, array_like=True):
    """``account_id`` booked for the applicant identity ``applicant_id`` (or changed a booking to it)."""

    applicant_id: str
    account_id: str


class LinkWork(Work, tag="link_use", frozen=True, array_like=True):
    """``account_id`` uses the link entity ``kind:key``; ``holder`` says whether it behaves like a holder."""

    kind: LinkKind
    key: str
    account_id: str
    holder: bool


class CreationWork(Work, tag="creation", frozen=True, array_like=True):
    """``account_id`` was created from the network ``network`` (a pseudonymised prefix)."""

    network: str
    account_id: str


class BoardWork(Work, tag="board", frozen=True, array_like=True):
    """At the site's service ``board`` (``site/service``): ``account_id``'s search showed free slots
    (``hit``), or it booked a slot with no search of its own before (``unsearched``; ``holder``: it
    behaves like a holder)."""

    board: str
    action: Literal["hit", "unsearched"]
    account_id: str
    holder: bool = False


AnyWork = SlotWork | ApplicantWork | LinkWork | CreationWork | BoardWork
AnyMessage = BookingTimed | HandoffOut | HandoffIn | Linked | ApplicantShared | SellerFlagged | AnyWork


def route_key(message: Message) -> str:
    """The key whose partition owns the state a message is for: its account, or its entity."""
    kind = type(message)
    if kind is SlotWork:
        return "slot:" + message.slot_id  # type: ignore[attr-defined]
    if kind is LinkWork:
        return f"{message.kind}:{message.key}"  # type: ignore[attr-defined]
    if kind is ApplicantWork:
        return "applicant:" + message.applicant_id  # type: ignore[attr-defined]
    if kind is CreationWork:
        return "network:" + message.network  # type: ignore[attr-defined]
    if kind is BoardWork:
        return "board:" + message.board  # type: ignore[attr-defined]
    return message.account_id  # type: ignore[attr-defined]
