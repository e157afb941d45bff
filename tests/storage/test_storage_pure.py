"""Store URLs, SQL literals, row conversion and address redaction: no store needed."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ingest.deadletter import DeadLetter
from ingest.pseudonym import Pseudonymizer
from storage import StoreUrlError, parse_store_url
from storage.retention import cutoff_month
from storage.rows import dead_letter_columns, event_columns, redact_json, redact_text
from storage.sql import iso, lit, lits
from tests.storage.builders import events, line

PSEUDO = Pseudonymizer("k")


def test_chdb_urls() -> None:
    url = parse_store_url("chdb:var/store")
    assert (url.kind, url.path, url.database) == ("chdb", Path("var/store"), "slotguard")
    assert parse_store_url("chdb:///abs/dir").path == Path("/abs/dir")
    assert parse_store_url("chdb:/abs/dir?database=t_1").database == "t_1"


def test_server_urls() -> None:
    url = parse_store_url("clickhouse://alice:s%40cret@ch.internal:9440/history?secure=1&connect_timeout=5")
    assert (url.kind, url.user, url.password, url.host, url.port, url.database) == (
        "server",
        "alice",
        "s@cret",
        "ch.internal",
        9440,
        "history",
    )
    assert url.secure and url.connect_timeout_s == 5.0
    assert "s@cret" not in url.display() and "***" in url.display()
    defaults = parse_store_url("clickhouse://localhost")
    assert (defaults.user, defaults.port, defaults.database) == ("default", 9000, "slotguard")


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("postgres://x/y", "unsupported store URL"),
        ("chdb:", "has no path"),
        ("clickhouse:///db", "has no host"),
        ("clickhouse://h/bad-name", "bad database name"),
        ("clickhouse://h:notaport/db", "bad port"),
        ("clickhouse://h/db?colour=red", "unknown parameter"),
        ("chdb:x?database=a;drop", "bad database name"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, fragment: str) -> None:
    with pytest.raises(StoreUrlError, match=fragment):
        parse_store_url(url)


def test_literals_escape_everything_that_could_break_out() -> None:
    assert lit("it's") == "'it\\'s'"
    assert lit("back\\slash") == "'back\\\\slash'"
    assert lit("a\nb\tc\0") == "'a\\nb\\tc\\0'"
    assert lit(None) == "NULL" and lit(True) == "1" and lit(3) == "3" and lit(0.5) == "0.5"
    assert lit(["a", "b'"]) == "['a', 'b\\'']"
    assert lits(["x", "y"]) == "('x', 'y')"
    with pytest.raises(ValueError):
        lits([])
    with pytest.raises(ValueError):
        lit(float("nan"))


def test_iso_is_utc_with_milliseconds() -> None:
    assert iso(1_772_438_401_250) == "2026-03-02T08:00:01.250+00:00"
    assert iso(None) is None


def test_cutoff_month() -> None:
    assert cutoff_month(6, date(2026, 3, 15)) == 202509
    assert cutoff_month(1, date(2026, 1, 31)) == 202512
    assert cutoff_month(14, date(2026, 3, 1)) == 202501
    with pytest.raises(ValueError):
        cutoff_month(0, date(2026, 3, 1))


def test_event_columns_pseudonymise_the_address_everywhere() -> None:
    evs, raws = events(
        [
            line("login", 0, account_id="A", success=True, ip="192.0.2.7", forwarded_for="198.51.100.9"),
            line(
                "booking_created",
                1.25,
                account_id="A",
                booking_id="b1",
                slot_id="S1",
                service="x",
                slot_start=3600,
                applicant_id="P",
                ip="2001:db8::1",
                user_agent="Mozilla/5.0 Chrome/120.0.0.0",
            ),
            line("slot_released", 2, slot_id="S2", service="x", slot_start=7200, reason="opening"),
        ]
    )
    cols = event_columns(evs, raws, PSEUDO)
    assert cols["ip"] == [PSEUDO.ip("192.0.2.7"), PSEUDO.ip("2001:db8::1"), ""]
    assert cols["network"][0] == PSEUDO.network("192.0.2.7")
    for raw in cols["raw"]:
        for address in ("192.0.2.7", "198.51.100.9", "2001:db8::1"):
            assert address not in raw
    assert PSEUDO.ip("198.51.100.9") in cols["raw"][0]  # unknown field, pseudonymised too
    assert "Chrome/120.0.0.0" in cols["raw"][1]  # version numbers are not addresses
    # exact milliseconds, optional fields typed or empty, system event without account
    assert cols["ts_ms"][1] - cols["ts_ms"][0] == 1250
    assert cols["success"] == [1, None, None]
    assert cols["slot_start_ms"][0] is None and cols["slot_start_ms"][1] == cols["ts_ms"][0] + 3_600_000
    assert cols["account_id"][2] == "" and cols["reason"][2] == "opening"


def test_event_columns_refuse_unpaired_raws() -> None:
    evs, raws = events([line("login", 0, account_id="A", success=True)])
    with pytest.raises(ValueError, match="pair up"):
        event_columns(evs, [*raws, raws[0]], PSEUDO)


def test_dead_letters_are_redacted_in_raw_and_reason() -> None:
    rows = [
        DeadLetter("f.jsonl", 3, "bad field near 10.1.2.3", '{"ip":"10.1.2.3","to":"[fe80::1]:443"} 203.0.113.5:8080'),
        DeadLetter("f.jsonl", 4, "unparsable JSON", "not json at 09:00:01 Chrome/120.0.0.0 v1.2.3.4.5"),
    ]
    cols = dead_letter_columns(rows, PSEUDO, now_ms=0)
    for address in ("10.1.2.3", "fe80::1", "203.0.113.5"):
        assert address not in cols["raw"][0] + cols["reason"][0]
    assert PSEUDO.ip("203.0.113.5") + ":8080" in cols["raw"][0]
    assert cols["raw"][1] == rows[1].raw  # times, versions and dotted runs that are not addresses stay


def test_redaction_helpers_leave_clean_text_alone() -> None:
    text = '{"ts":"2026-03-02T09:00:01.250+01:00","n":"12","ip":"ip:0123456789abcdef"}'
    assert redact_json(text, PSEUDO) == text
    assert redact_text(text, PSEUDO) == text
