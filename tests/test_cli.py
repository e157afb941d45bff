"""The command line as users meet it: help that teaches, stdin/stdout, summaries, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from slotguard.cli import COMMANDS
from tests.conftest import SmallWorld


def slotguard(
    *args: str, stdin: bytes | None = None, env_model: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    prefix = ["--model", str(env_model)] if env_model else []
    return subprocess.run(
        [sys.executable, "-m", "slotguard.cli", *prefix, *args],
        input=stdin,
        capture_output=True,
        timeout=300,
        check=False,
    )


def test_top_level_help_lists_every_command_and_a_first_run() -> None:
    done = slotguard("--help")
    assert done.returncode == 0
    text = done.stdout.decode()
    for name in COMMANDS:
        assert name in text
    assert "slotguard simulate --seed" in text and "SLOTGUARD_" in text


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help_with_examples(command: str) -> None:
    done = slotguard(command, "--help")
    assert done.returncode == 0, done.stderr.decode()
    text = done.stdout.decode()
    assert "example" in text.lower(), f"{command} --help shows no example"


def test_detect_reads_stdin_writes_stdout_and_dead_letters(small_world: SmallWorld, tmp_path: Path) -> None:
    lines = small_world.events.read_bytes().splitlines()[:3000]
    bad = [b"{not json", b'{"event_id": "x", "type": "slot_taken"}', lines[5]]  # and one duplicate
    stdin = b"\n".join(lines[:1500] + bad + lines[1500:]) + b"\n"
    dead = tmp_path / "dead.jsonl"
    done = slotguard(
        "detect",
        "-",
        "--out",
        "-",
        "--dead-letters",
        str(dead),
        "--format",
        "json",
        stdin=stdin,
        env_model=small_world.model_dir,
    )
    assert done.returncode == 0, done.stderr.decode()
    verdicts = [json.loads(line) for line in done.stdout.splitlines()]
    summary = json.loads(done.stderr.decode().strip().splitlines()[-1])
    assert summary["events_read"] == 3003 and summary["valid"] == 3001
    assert summary["invalid"] == 2 and summary["duplicates"] == 1 and summary["applied"] == 3000
    assert summary["accounts"] == len(verdicts) > 0
    assert all(set(v) == {"account_id", "score", "flagged", "flagged_at", "reasons"} for v in verdicts)
    scores = [v["score"] for v in verdicts]
    assert scores == sorted(scores, reverse=True)
    rows = [json.loads(line) for line in dead.read_text().splitlines()]
    assert [r["line_no"] for r in rows] == [1501, 1502]
    assert rows[0]["raw"] == "{not json" and "unparsable JSON" in rows[0]["reason"]
    assert "slot_taken" in rows[1]["reason"]


def test_detect_prints_a_readable_summary_table(small_world: SmallWorld, tmp_path: Path) -> None:
    out = tmp_path / "v.jsonl"
    done = slotguard("detect", str(small_world.events), "--out", str(out), env_model=small_world.model_dir)
    assert done.returncode == 0, done.stderr.decode()
    text = done.stderr.decode()
    for figure in ("events_read", "invalid", "duplicates", "accounts", "flagged", "model_version"):
        assert figure in text
    assert not (tmp_path / "v.dead-letters.jsonl").exists()  # created only when needed


def test_detect_exit_codes_say_what_is_wrong(small_world: SmallWorld, tmp_path: Path) -> None:
    missing = slotguard("detect", str(tmp_path / "nope.jsonl"), "--out", "-", env_model=small_world.model_dir)
    assert missing.returncode == 2 and b"no such events file" in missing.stderr
    no_model = slotguard("detect", str(small_world.events), "--out", "-", env_model=tmp_path / "no-model")
    assert no_model.returncode == 2 and b"make model" in no_model.stderr
    bad_store = slotguard(
        "detect",
        str(small_world.events),
        "--out",
        str(tmp_path / "v.jsonl"),
        "--store",
        "mysql://x",
        env_model=small_world.model_dir,
    )
    assert bad_store.returncode == 2 and b"store" in bad_store.stderr.lower()


def test_features_lists_the_registry_as_table_or_json() -> None:
    table = slotguard("features")
    assert table.returncode == 0 and b"polling_hours" in table.stdout
    assert b"higher = more suspicious" in table.stdout
    rows = [json.loads(line) for line in slotguard("features", "--format", "json").stdout.splitlines()]
    from features.registry import FEATURE_NAMES

    assert [r["name"] for r in rows] == list(FEATURE_NAMES)
    assert all(r["description"] and r["entity"] and "window_s" in r and r["reads"] and r["kind"] for r in rows)


def test_model_command_shows_the_artifact(small_world: SmallWorld) -> None:
    done = slotguard("model", "--format", "json", env_model=small_world.model_dir)
    assert done.returncode == 0, done.stderr.decode()
    meta = json.loads(done.stdout)
    assert meta["version"] == small_world.model.version and meta["score_direction"] == "higher is more suspicious"


def test_configuration_errors_are_reported_not_raised(tmp_path: Path) -> None:
    bad = tmp_path / "slotguard.toml"
    bad.write_text("[engine]\nlateness_s = 'soon'\n")
    done = slotguard("--config", str(bad), "features")
    assert done.returncode == 2 and b"configuration error" in done.stderr and b"lateness_s" in done.stderr


def test_produce_and_worker_say_when_no_broker_answers(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"event_id": "e1"}\n')
    for args in (("produce", str(events)), ("worker", "--state-dir", str(tmp_path / "w"))):
        done = slotguard("--data-dir", str(tmp_path), *args[:1], "--brokers", "127.0.0.1:1", *args[1:])
        assert done.returncode == 2, done.stderr
        assert b"cannot reach Kafka at 127.0.0.1:1" in done.stderr


def test_stack_status_reports_each_service_down_when_nothing_runs(tmp_path: Path) -> None:
    done = slotguard("--data-dir", str(tmp_path), "stack", "status", "--format", "json")
    rows = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert done.returncode == 1
    assert {row["service"]: row["state"] for row in rows} == {
        "kafka": "down", "clickhouse": "down", "prometheus": "down", "alertmanager": "down"
    }  # fmt: skip
