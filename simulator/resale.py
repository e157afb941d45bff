"""Resale: buyers pay an operation; the operation delivers a slot, or scams them.

Each buyer is assigned a delivery mechanism by the operation's own ``handoff_mix``:

- ``handoff_buyer_device``: coordinated by phone, the holder cancels and the buyer books the
  same slot seconds later from the buyer's own device and address;
- ``handoff_seller_operated``: the seller logs into the *buyer's* account with the buyer's
  credentials from the seller's own device and address (the holder's usual kit, or the seller's
  own phone or PC), cancels the hold, and rebooks it in the buyer's account seconds later;
- ``applicant_change``: the holder changes the booking's applicant to the buyer's identity;
- ``book_to_order``: the buyer's identity is collected first; the operation books directly in the
  buyer's name from its own accounts (``operations.scalper_book``). The applicant attends.

Scams: an operation may sell the same held slot to several buyers (only one can get it: in a
buyer-device handoff they race for it, otherwise the others simply get nothing), or sell slots
that do not exist (the buyer waits at the promised time and nothing comes).
"""

from __future__ import annotations

import logging

from simulator.model import Account, Booking, FixedNet, Kit, Session
from simulator.operations import Operation, Order, deliver
from simulator.structure import weighted
from simulator.timefmt import MINUTE, SECOND
from simulator.world import Process, World

logger = logging.getLogger(__name__)


def _wants(buyer: Account) -> tuple[str, str]:
    """The (applicant, service) the buyer is paying for."""
    if buyer.pending:
        return buyer.pending[0]
    return buyer.applicants[0], buyer.service


class Market:
    """Buyers contact an operation at their site that covers their service; operations sell to them."""

    def __init__(self, world: World, operations: list[Operation]) -> None:
        self.world = world
        self.operations = operations

    def contact(self, buyer: Account) -> None:
        """A buyer pays an operation (chosen by size) and waits for a slot, an order, or nothing (scam)."""
        world = self.world
        applicant, service = _wants(buyer)
        options = [op for op in self.operations if op.site == buyer.site and service in op.services]
        if not options:
            world.figures["buyers_without_seller"] += 1
            return
        op = buyer.rng.choices(options, weights=[len(op.accounts) for op in options])[0]
        buyer.paid_op = op.op_id
        world.figures["buyers_paid"] += 1
        op.figures["buyers_paid"] += 1
        rng = op.rng
        if rng.random() < float(op.structure["scams"]["fake_sale_share"]):
            buyer.scam = "nonexistent_slot"
            world.figures["scam_nonexistent_slot"] += 1
            op.figures["scam_nonexistent_slot"] += 1
            promised = world.now + rng.randint(30 * MINUTE, 20 * 60 * MINUTE)
            world.at(promised, _wait_for_nothing(world, buyer, service))
            return
        double = float(op.structure["scams"]["double_sell_share"])
        target = _slot_to_sell_again(op, service, world.now) if double and rng.random() < double else None
        if target is not None:
            buyer.scam = "double_sold"
            world.figures["scam_double_sold"] += 1
            op.figures["scam_double_sold"] += 1
            op.promised.setdefault(target.booking_id, []).append(buyer)
            if target.sold:
                told = world.now + rng.randint(10 * MINUTE, 3 * 60 * MINUTE)
                world.at(told, _wait_for_nothing(world, buyer, service))
            return
        mechanism = weighted(rng, op.structure["handoff_mix"])
        if mechanism == "book_to_order":
            op.orders.append(Order(buyer, applicant, service))
            op.figures["orders"] += 1
        else:
            op.buyers.append((buyer, mechanism))


def _slot_to_sell_again(op: Operation, service: str, now: int) -> Booking | None:
    """A held or just-sold booking of ``service`` that a scamming operation can promise once more."""
    op.recent_sales = [b for b in op.recent_sales if b.active and now - b.created < 3 * 24 * 60 * MINUTE]
    for booking in [*op.inventory, *op.recent_sales]:
        if booking.active and booking.slot.service == service and booking.slot.start > now + 12 * 60 * MINUTE:
            return booking
    return None


def _wait_for_nothing(world: World, buyer: Account, service: str) -> Process:
    """A scammed buyer searches at the promised time for a slot that never comes."""
    if buyer.bought_from is not None or world.now >= world.end:
        return
    rng = buyer.rng
    session = yield from world.open_session(buyer)
    for _ in range(rng.randint(2, 6)):
        world.search(buyer, service, session=session)
        yield world.now + rng.randint(5 * SECOND, 40 * SECOND)


def sales(world: World, op: Operation) -> Process:
    """Every so often, in waking hours, deliver held slots to waiting buyers (sometimes to several)."""
    rng = op.rng
    double = float(op.structure["scams"]["double_sell_share"])
    while True:
        yield world.now + rng.randint(10 * MINUTE, 60 * MINUTE)
        if not op.buyers or not 8.0 <= world.clock.hour(world.now) < 22.0:
            continue
        for entry in list(op.buyers):
            if entry not in op.buyers:
                continue
            buyer, mechanism = entry
            service = _wants(buyer)[1]
            booking = op.sellable(service, world.now)
            if booking is None:
                continue
            op.buyers.remove(entry)
            booking.sold = True
            op.recent_sales.append(booking)
            victims = op.promised.pop(booking.booking_id, [])
            if double and rng.random() < double:
                others = [e for e in op.buyers if _wants(e[0])[1] == service]
                for other in others[: rng.randint(1, 3)]:
                    op.buyers.remove(other)
                    other[0].scam = "double_sold"
                    victims.append(other[0])
                    world.figures["scam_double_sold"] += 1
                    op.figures["scam_double_sold"] += 1
            delay = rng.randint(0, 20 * MINUTE)
            if mechanism == "handoff_buyer_device":
                world.at(world.now + delay, handoff_buyer_device(world, op, booking, buyer, victims))
                continue
            for victim in victims:  # told to wait for a slot that goes to someone else
                world.at(world.now + delay, _wait_for_nothing(world, victim, _wants(victim)[1]))
            if mechanism == "handoff_seller_operated":
                world.at(world.now + delay, handoff_seller_operated(world, op, booking, buyer))
            else:
                world.at(world.now + delay * 3, applicant_change(world, op, booking, buyer))


def _requeue(op: Operation, buyer: Account, mechanism: str) -> None:
    if buyer.bought_from is None:
        op.buyers.insert(0, (buyer, mechanism))


def _gap_ms(op: Operation) -> int:
    low, high = op.traits["handoff_gap_s"]
    return int(max(1.5, op.rng.uniform(low, high)) * SECOND)


def handoff_buyer_device(
    world: World, op: Operation, booking: Booking, buyer: Account, victims: list[Account]
) -> Process:
    """The holder cancels; the buyer (and any other buyer sold the same slot) rushes to book it."""
    rng = op.rng
    slot, holder = booking.slot, booking.account
    racers: list[tuple[Account, Session, str, str]] = []
    for person in [buyer, *victims]:
        session = yield from world.open_session(person)
        applicant, service = _wants(person)
        racers.append((person, session, applicant, service))
    yield world.now + rng.randint(5 * SECOND, 90 * SECOND)
    if not booking.active:
        _requeue(op, buyer, "handoff_buyer_device")
        return
    seller = yield from world.open_session(holder)
    yield world.now + rng.randint(2 * SECOND, 20 * SECOND)
    if not booking.active:
        _requeue(op, buyer, "handoff_buyer_device")
        return
    op.handing_off.add(slot.slot_id)
    world.cancel(booking, session=seller)
    world.figures["handoffs_attempted"] += 1
    buyer.sellers.append(holder.account_id)
    cancelled = world.now
    # everyone told "now" searches after the gap, then books a second or two later
    plan = []
    for index in range(len(racers)):
        search_at = cancelled + _gap_ms(op) + (0 if index == 0 else rng.randint(0, 4 * SECOND))
        plan.append((search_at, index, "search"))
        plan.append((search_at + rng.randint(500, 2500), index, "book"))
    plan.sort()
    seen: dict[int, int] = {}
    winner: Account | None = None
    for when, index, action in plan:
        if when > world.now:
            yield when
        person, session, applicant, service = racers[index]
        if action == "search":
            world.search(person, service, slot.site, session=session)
            seen[index] = world.now
        elif winner is None:
            bought = world.book(
                person,
                service,
                seen[index],
                applicant,
                placeholder=False,
                attend_prob=world.draws.buyer_attend_rate,
                slot=slot,
                site=slot.site,
                session=session,
            )
            if bought is not None:
                winner = person
    op.handing_off.discard(slot.slot_id)
    if winner is None:
        world.figures["handoffs_sniped"] += 1
        _requeue(op, buyer, "handoff_buyer_device")
        return
    world.figures["handoffs_completed"] += 1
    deliver(world, op, winner, holder, "handoff_buyer_device")
    if winner is not buyer:
        buyer.scam = "double_sold"  # another buyer of the same slot was faster


def handoff_seller_operated(world: World, op: Operation, booking: Booking, buyer: Account) -> Process:
    """The seller logs into the buyer's account from his own device, cancels the hold, rebooks it there."""
    rng = op.rng
    slot, holder = booking.slot, booking.account
    applicant, service = _wants(buyer)
    yield world.now + rng.randint(0, 10 * MINUTE)
    if not booking.active:
        _requeue(op, buyer, "handoff_seller_operated")
        return
    seller = yield from world.open_session(holder, kit=op.seller_kit)
    # the same device and connection for the buyer's account (the seller has the buyer's password)
    pinned = Kit(FixedNet([seller.endpoint]), [seller.device])
    if seller.rotating is not None:
        pinned = Kit(seller.rotating, [seller.device])
    yield world.now + rng.randint(3 * SECOND, 30 * SECOND)
    on_buyer = yield from world.open_session(buyer, kit=pinned)
    yield world.now + rng.randint(2 * SECOND, 15 * SECOND)
    if not booking.active:
        _requeue(op, buyer, "handoff_seller_operated")
        return
    op.handing_off.add(slot.slot_id)
    world.cancel(booking, session=seller)
    world.figures["handoffs_attempted"] += 1
    op.figures["handoffs_seller_operated"] += 1
    buyer.sellers.append(holder.account_id)
    yield world.now + _gap_ms(op)
    seen = world.now
    if rng.random() < float(op.structure["seller_searches_share"]):
        world.search(buyer, service, slot.site, session=on_buyer)
        seen = world.now
        yield seen + rng.randint(400, 2500)
    bought = world.book(
        buyer,
        service,
        seen,
        applicant,
        placeholder=False,
        attend_prob=world.draws.buyer_attend_rate,
        slot=slot,
        site=slot.site,
        session=on_buyer,
    )
    op.handing_off.discard(slot.slot_id)
    if bought is None:
        world.figures["handoffs_sniped"] += 1
        _requeue(op, buyer, "handoff_seller_operated")
        return
    world.figures["handoffs_completed"] += 1
    deliver(world, op, buyer, holder, "handoff_seller_operated")


def applicant_change(world: World, op: Operation, booking: Booking, buyer: Account) -> Process:
    """The holder changes the booking's applicant to the buyer's; the buyer attends on the day."""
    yield world.now
    if not booking.active or booking.slot.start - world.now < 6 * 60 * MINUTE:
        _requeue(op, buyer, "applicant_change")
        return
    applicant = _wants(buyer)[0]
    session = yield from world.open_session(booking.account)
    yield world.now + op.rng.randint(10 * SECOND, 90 * SECOND)
    if not booking.active:
        _requeue(op, buyer, "applicant_change")
        return
    world.modify(booking, applicant, session=session)
    booking.placeholder = False
    booking.attend_prob = world.draws.buyer_attend_rate
    world.figures["modifications_sold"] += 1
    deliver(world, op, buyer, booking.account, "applicant_change")
