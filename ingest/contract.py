"""Booking-event contract v1 as typed structs, and a fast validating decoder.

The contract lives in ``shared/contract/booking-events.md``. Every event is one JSON object;
``type`` selects the struct. Decoding is a single pass of ``msgspec`` (parse and type-check
together), followed by the few checks msgspec cannot express (a UTC offset on timestamps, a
plausible year, a well-formed IP address). Unknown fields are accepted and ignored here; the
raw line is what keeps them.
"""

from __future__ import annotations

import socket
from datetime import datetime
from typing import Annotated, Final, Literal

import msgspec
from msgspec import Meta, Struct

CONTRACT_VERSION: Final = 1

EventId = Annotated[str, Meta(min_length=1, max_length=64)]
NonEmpty = Annotated[str, Meta(min_length=1)]
Count = Annotated[int, Meta(ge=0)]
Asn = Annotated[int, Meta(ge=0, le=4_294_967_295)]

#: Timestamps outside these years are "impossible" (a broken clock, a unit mix-up), not events.
MIN_YEAR: Final = 2000
MAX_YEAR: Final = 2100


class Event(Struct, tag_field="type", kw_only=True, frozen=True, omit_defaults=True):
    """Fields present on every event (contract v1)."""

    event_id: EventId
    ts: datetime
    site: NonEmpty
    session_id: str | None = None
    ip: str | None = None
    asn: Asn | None = None
    user_agent: str | None = None
    device_id: str | None = None


class AccountCreated(Event, tag="account_created", frozen=True):
    account_id: NonEmpty
    email_hash: NonEmpty
    phone_hash: str | None = None
    email_domain: str | None = None


class Login(Event, tag="login", frozen=True):
    account_id: NonEmpty
    success: bool


class SlotSearch(Event, tag="slot_search", frozen=True):
    account_id: NonEmpty
    service: str
    results: Count


class SlotReleased(Event, tag="slot_released", frozen=True):
    """A slot became bookable; a system event, so it carries no account."""

    slot_id: NonEmpty
    service: str
    slot_start: datetime
    reason: Literal["opening", "cancellation"]
    account_id: str | None = None


class BookingCreated(Event, tag="booking_created", frozen=True):
    account_id: NonEmpty
    booking_id: NonEmpty
    slot_id: NonEmpty
    service: str
    slot_start: datetime
    applicant_id: NonEmpty


class BookingCancelled(Event, tag="booking_cancelled", frozen=True):
    account_id: NonEmpty
    booking_id: NonEmpty
    slot_id: NonEmpty


class BookingModified(Event, tag="booking_modified", frozen=True):
    account_id: NonEmpty
    booking_id: NonEmpty
    applicant_id: NonEmpty


class BookingAttended(Event, tag="booking_attended", frozen=True):
    account_id: NonEmpty
    booking_id: NonEmpty


class BookingNoShow(Event, tag="booking_no_show", frozen=True):
    account_id: NonEmpty
    booking_id: NonEmpty


AnyEvent = (
    AccountCreated
    | Login
    | SlotSearch
    | SlotReleased
    | BookingCreated
    | BookingCancelled
    | BookingModified
    | BookingAttended
    | BookingNoShow
)

EVENT_TYPES: Final[dict[str, type[Event]]] = {cls.__struct_config__.tag: cls for cls in AnyEvent.__args__}
#: event class -> its ``type`` name (the inverse of ``EVENT_TYPES``)
TYPE_NAMES: Final[dict[type[Event], str]] = {cls: tag for tag, cls in EVENT_TYPES.items()}


class ContractError(ValueError):
    """An input line that does not satisfy contract v1; the message is the dead-letter reason.

    ``kind`` groups reasons for summaries: ``unparsable``, ``invalid``, ``timestamp``, ``address``.
    """

    def __init__(self, message: str, kind: str = "invalid") -> None:
        super().__init__(message)
        self.kind = kind


_decoder = msgspec.json.Decoder(AnyEvent)
_encoder = msgspec.json.Encoder()
_valid_ips: dict[str, bool] = {}
_IP_CACHE_MAX: Final = 1 << 16


def _ip_ok(ip: str) -> bool:
    known = _valid_ips.get(ip)
    if known is None:
        # inet_pton is the C parser: strict dotted quads for IPv4, RFC 4291 text for IPv6
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        try:
            socket.inet_pton(family, ip)
            known = True
        except OSError:
            known = False
        if len(_valid_ips) >= _IP_CACHE_MAX:
            _valid_ips.clear()
        _valid_ips[ip] = known
    return known


def _check_time(value: datetime, field: str) -> None:
    if value.tzinfo is None:
        raise ContractError(f"`{field}` has no UTC offset (RFC 3339 requires one): {value.isoformat()}", "timestamp")
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ContractError(f"`{field}` is outside {MIN_YEAR}-{MAX_YEAR}: {value.isoformat()}", "timestamp")


_WITH_SLOT_START: Final = (SlotReleased, BookingCreated)


def check(event: AnyEvent) -> AnyEvent:
    """Apply the checks msgspec cannot express; raise ContractError on the first failure."""
    ts = event.ts
    if ts.tzinfo is None or not MIN_YEAR <= ts.year <= MAX_YEAR:
        _check_time(ts, "ts")
    if type(event) in _WITH_SLOT_START:
        _check_time(event.slot_start, "slot_start")  # type: ignore[union-attr]
    ip = event.ip
    if ip is not None and _valid_ips.get(ip) is not True and not _ip_ok(ip):
        raise ContractError(f"`ip` is not an IPv4 or IPv6 address: {ip!r}", "address")
    return event


def decode(line: bytes | str) -> AnyEvent:
    """Decode and validate one JSON line; raise ContractError with a readable reason."""
    try:
        event = _decoder.decode(line)
    except msgspec.ValidationError as exc:
        text = str(exc)
        kind = "timestamp" if "datetime" in text else "invalid"
        raise ContractError(f"invalid event: {text}", kind) from None
    except msgspec.DecodeError as exc:
        raise ContractError(f"unparsable JSON: {exc}", "unparsable") from None
    return check(event)


def encode(event: Event) -> bytes:
    """Serialise an event back to contract JSON (used by the simulator and producers)."""
    return _encoder.encode(event)


def event_time(event: Event) -> float:
    """Event time as POSIX seconds."""
    return event.ts.timestamp()
