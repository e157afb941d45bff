"""Contract v1: every event type decodes; every kind of bad input is rejected with a clear reason."""

from __future__ import annotations

import io
import json

import pytest

from ingest.contract import EVENT_TYPES, BookingCreated, ContractError, SlotReleased, decode, encode
from ingest.reader import EventReader
from tests.factories import raw

VALID = {
    "account_created": {"account_id": "a1", "email_hash": "h1", "email_domain": "example.org"},
    "login": {"account_id": "a1", "success": True},
    "slot_search": {"account_id": "a1", "service": "s", "results": 0},
    "slot_released": {"slot_id": "s1", "service": "s", "slot_start": 86400, "reason": "opening"},
    "booking_created": {
        "account_id": "a1",
        "booking_id": "b1",
        "slot_id": "s1",
        "service": "s",
        "slot_start": 86400,
        "applicant_id": "p1",
    },
    "booking_cancelled": {"account_id": "a1", "booking_id": "b1", "slot_id": "s1"},
    "booking_modified": {"account_id": "a1", "booking_id": "b1", "applicant_id": "p2"},
    "booking_attended": {"account_id": "a1", "booking_id": "b1"},
    "booking_no_show": {"account_id": "a1", "booking_id": "b1"},
}


def test_every_contract_type_has_a_valid_example() -> None:
    assert set(VALID) == set(EVENT_TYPES)


@pytest.mark.parametrize("kind", sorted(VALID))
def test_valid_event_of_each_type_decodes(kind: str) -> None:
    event = decode(raw(kind, 10.5, **VALID[kind]))
    assert type(event) is EVENT_TYPES[kind]
    assert event.ts.utcoffset() is not None
    # round trip through our encoder keeps the meaning
    again = decode(encode(event))
    assert again == event


def test_optional_fields_and_unknown_fields_are_accepted() -> None:
    line = raw(
        "slot_search",
        0,
        account_id="a1",
        service="s",
        results=3,
        ip="2001:db8::7",
        asn=3215,
        user_agent="Mozilla/5.0",
        device_id="d1",
        session_id="x",
        future_field={"nested": [1, 2]},
    )
    event = decode(line)
    assert event.ip == "2001:db8::7" and event.asn == 3215 and event.device_id == "d1"


def test_slot_released_needs_no_account() -> None:
    event = decode(raw("slot_released", 0, **VALID["slot_released"]))
    assert isinstance(event, SlotReleased) and event.account_id is None


def _mutated(kind: str, **changes: object) -> str:
    doc = json.loads(raw(kind, 0, **VALID[kind]))
    for key, value in changes.items():
        if value is ...:
            doc.pop(key)
        else:
            doc[key] = value
    return json.dumps(doc)


BAD = [
    ("not json", "{this is not json", "unparsable", "unparsable JSON"),
    ("truncated", '{"event_id": "e1", "type": "login"', "unparsable", "unparsable JSON"),
    ("not an object", "[1, 2, 3]", "invalid", "Expected `object`"),
    ("binary garbage", "\udcff\udcfe".encode("utf-8", "surrogateescape").decode("latin-1"), "unparsable", "unparsable"),
    ("missing event_id", _mutated("login", event_id=...), "invalid", "event_id"),
    ("empty event_id", _mutated("login", event_id=""), "invalid", "event_id"),
    ("event_id too long", _mutated("login", event_id="x" * 65), "invalid", "event_id"),
    ("missing type", _mutated("login", type=...), "invalid", "type"),
    ("unknown type", _mutated("login", type="slot_stolen"), "invalid", "slot_stolen"),
    ("missing ts", _mutated("login", ts=...), "invalid", "ts"),
    ("missing site", _mutated("login", site=...), "invalid", "site"),
    ("missing account on a login", _mutated("login", account_id=...), "invalid", "account_id"),
    ("mistyped success", _mutated("login", success="yes"), "invalid", "success"),
    ("mistyped results", _mutated("slot_search", results="3"), "invalid", "results"),
    ("float results", _mutated("slot_search", results=2.5), "invalid", "results"),
    ("negative results", _mutated("slot_search", results=-1), "invalid", "results"),
    ("mistyped asn", _mutated("slot_search", asn="AS3215"), "invalid", "asn"),
    ("bad release reason", _mutated("slot_released", reason="magic"), "invalid", "reason"),
    ("missing applicant", _mutated("booking_created", applicant_id=...), "invalid", "applicant_id"),
    ("impossible date", _mutated("login", ts="2026-02-30T10:00:00+01:00"), "timestamp", "ts"),
    ("no offset", _mutated("login", ts="2026-03-02T10:00:00"), "timestamp", "UTC offset"),
    ("year 1970", _mutated("login", ts="1970-01-01T00:00:00Z"), "timestamp", "outside"),
    ("year 2999", _mutated("login", ts="2999-01-01T00:00:00Z"), "timestamp", "outside"),
    ("not a timestamp", _mutated("login", ts="yesterday"), "timestamp", "ts"),
    ("epoch number", _mutated("login", ts=1767225600), "timestamp", "ts"),
    (
        "impossible slot_start",
        _mutated("slot_released", slot_start="2026-13-01T09:00:00+01:00"),
        "timestamp",
        "slot_start",
    ),
    ("bad ip", _mutated("login", ip="300.1.2.3"), "address", "ip"),
    ("ip with port", _mutated("login", ip="1.2.3.4:443"), "address", "ip"),
]


@pytest.mark.parametrize(("name", "line", "kind", "mentions"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_rejected_with_a_reason(name: str, line: str, kind: str, mentions: str) -> None:
    with pytest.raises(ContractError) as caught:
        decode(line)
    assert caught.value.kind == kind
    assert mentions in str(caught.value)


def test_reader_sends_bad_lines_to_dead_letters_and_keeps_going() -> None:
    good = raw("login", 0, **VALID["login"])
    lines = [
        good,
        "{broken",
        "",
        good.replace('"login"', '"logout"'),
        raw("booking_created", 5, **VALID["booking_created"]),
    ]
    dead = []
    reader = EventReader(io.BytesIO("\n".join(lines).encode() + b"\n"), dead.append, source_name="test.jsonl")
    events = [event for _, event in reader]
    assert [type(e).__name__ for e in events] == ["Login", "BookingCreated"]
    assert isinstance(events[1], BookingCreated)
    assert [d.line_no for d in dead] == [2, 4]
    assert dead[0].raw == "{broken" and "unparsable" in dead[0].reason
    assert "logout" in dead[1].raw and "logout" in dead[1].reason
    assert all(d.source == "test.jsonl" for d in dead)
    stats = reader.stats
    assert (stats.lines, stats.valid, stats.invalid, stats.blank) == (5, 2, 2, 1)
    assert dict(stats.invalid_by_kind) == {"unparsable": 1, "invalid": 1}


def test_reader_keeps_undecodable_bytes_visible_in_the_dead_letter() -> None:
    dead = []
    reader = EventReader(io.BytesIO(b'{"event_id": "\xff\xfe"}\n'), dead.append)
    assert list(reader) == []
    assert len(dead) == 1 and "\\xff" in dead[0].raw
