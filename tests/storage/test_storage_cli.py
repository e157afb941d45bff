"""The investigator commands end to end: flags, outputs, exit codes (chDB and server).

The parser is built the way ``slotguard.cli`` builds it, from the storage command modules only, so
these tests do not depend on the other commands being importable.
"""

from __future__ import annotations

import argparse
import importlib
import json

import pytest

from slotguard.cli import COMMANDS
from slotguard.config import resolve
from storage import Store
from storage.schema import load_migrations
from tests.storage.builders import events, searches, verdict

MODULES = {name: name for name in ("flagged", "account", "decide", "retention", "store")}


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="slotguard")
    sub = parser.add_subparsers(dest="command")
    for name, module_name in MODULES.items():
        module = importlib.import_module(f"slotguard.commands.{module_name}")
        command = sub.add_parser(
            name,
            help=COMMANDS[name][1],
            description=module.DESCRIPTION,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(command)
        command.set_defaults(_module=module)
    args = parser.parse_args(argv)
    settings = resolve(flags={"store": getattr(args, "store", None)}, environ={})
    return int(args._module.run(args, settings))


@pytest.fixture
def filled(store: Store) -> Store:
    writer = store.writer()
    writer.add_events(*events(searches("acc-1", 4) + searches("acc-2", 2, start=100)))
    writer.add_verdicts([verdict("acc-1", 0.9, reasons=["polls day and night"]), verdict("acc-2", 0.7)])
    assert writer.close().ok
    return store


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(x) for x in text.splitlines() if x.strip()]


def test_flagged_json_and_table(filled: Store, store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["flagged", "--store", store_url, "--format", "json"]) == 0
    rows = _json_lines(capsys.readouterr().out)
    assert [r["account_id"] for r in rows] == ["acc-1", "acc-2"]
    assert rows[0]["reasons"] == ["polls day and night"]
    assert run_cli(["flagged", "--store", store_url, "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "acc-1" in out and "polls day and night" in out and "acc-2" not in out


def test_account_json_has_the_documented_keys(
    filled: Store, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["account", "acc-1", "--store", store_url, "--format", "json"]) == 0
    (view,) = _json_lines(capsys.readouterr().out)
    assert {"account_id", "events", "verdict", "decisions", "linked"} <= set(view)
    assert {"shared_devices", "shared_addresses", "handoffs_out", "handoffs_in", "counts"} <= set(view["linked"])
    assert len(view["events"]) == 4
    assert run_cli(["account", "acc-1", "--store", store_url]) == 0
    assert "polls day and night" in capsys.readouterr().out


def test_unknown_account_exits_1_with_a_message(
    filled: Store, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["account", "nobody", "--store", store_url]) == 1
    assert "unknown account 'nobody'" in capsys.readouterr().err
    assert run_cli(["decide", "nobody", "confirm", "--note", "x", "--by", "alice", "--store", store_url]) == 1


def test_decide_then_labels(filled: Store, store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["decide", "acc-1", "confirm", "--note", "bot", "--by", "alice", "--store", store_url]) == 0
    assert "recorded: confirm on acc-1 by alice" in capsys.readouterr().out
    assert run_cli(["store", "labels", "--store", store_url, "--format", "json"]) == 0
    (label,) = _json_lines(capsys.readouterr().out)
    assert (label["account_id"], label["label"], label["by"]) == ("acc-1", 1, "alice")


def test_retention_dry_run_json(filled: Store, store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["retention", "apply", "--months", "1", "--as-of", "2026-06-01", "--dry-run", "--format", "json"]
    assert run_cli([*argv, "--store", store_url]) == 0
    rows = _json_lines(capsys.readouterr().out)
    assert {r["table"] for r in rows} >= {"events", "verdicts"} and all(r["action"] == "would_drop" for r in rows)
    assert filled.counts()["events"] == 6


def test_store_status_and_migrate(filled: Store, store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["store", "migrate", "--store", store_url, "--format", "json"]) == 0
    (info,) = _json_lines(capsys.readouterr().out)
    assert info["applied"] == [] and info["schema_version"] == len(load_migrations())
    assert run_cli(["store", "status", "--store", store_url, "--format", "json"]) == 0
    (status,) = _json_lines(capsys.readouterr().out)
    assert status["rows"]["events"] == 6 and status["schema_version"] == len(load_migrations())


def test_unreachable_store_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["flagged", "--store", "clickhouse://default:@127.0.0.1:9/slotguard"]) == 2
    err = capsys.readouterr().err
    assert "store unavailable" in err and "127.0.0.1:9" in err
    assert run_cli(["flagged", "--store", "mysql://x"]) == 2
    assert "bad store URL" in capsys.readouterr().err


def test_help_teaches_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["flagged", "--help"],
        ["account", "--help"],
        ["decide", "--help"],
        ["retention", "apply", "--help"],
    ):
        with pytest.raises(SystemExit):
            run_cli(argv)
        out = capsys.readouterr().out
        assert "examples:" in out and "slotguard " in out and "exit codes" in out
