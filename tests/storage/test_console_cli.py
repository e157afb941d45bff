"""`slotguard users`, `slotguard audit` and `slotguard labels export` end to end (chDB and server)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from console.auth import verify_password
from storage import Store
from tests.storage.builders import events, searches, verdict
from tests.storage.test_storage_cli import MODULES, run_cli

MODULES.update({name: name for name in ("users", "audit", "labels")})


def _lines(text: str) -> list[dict[str, object]]:
    return [json.loads(x) for x in text.splitlines() if x.strip()]


def test_users_add_list_disable_and_audit(
    store: Store, store_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert run_cli(["users", "add", "alice", "--role", "investigator", "--password-stdin", "--store", store_url]) == 0
    user = store.user("alice")
    assert user is not None and user["role"] == "investigator" and not user["disabled"]
    assert verify_password(user["password_hash"], "a long enough password")
    assert "a long enough password" not in user["password_hash"]
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert run_cli(["users", "add", "bob", "--role", "admin", "--password-stdin", "--store", store_url]) == 2
    assert run_cli(["users", "add", "carol", "--role", "boss", "--store", store_url]) == 2
    monkeypatch.setattr("sys.stdin", io.StringIO("another long password\n"))
    assert run_cli(["users", "add", "alice", "--role", "admin", "--password-stdin", "--store", store_url]) == 1
    assert run_cli(["users", "disable", "alice", "--store", store_url]) == 0
    assert run_cli(["users", "disable", "nobody", "--store", store_url]) == 1
    capsys.readouterr()
    assert run_cli(["users", "list", "--store", store_url, "-o", "json"]) == 0
    assert _lines(capsys.readouterr().out) == [{k: v for k, v in u.items()} for u in store.users()]
    assert store.users()[0]["disabled"] is True
    assert run_cli(["audit", "--store", store_url, "-o", "json"]) == 0
    entries = _lines(capsys.readouterr().out)
    assert [(e["action"], e["target"]) for e in entries] == [("user_disable", "alice"), ("user_add", "alice")]
    assert str(entries[0]["username"]).startswith("cli")
    assert run_cli(["audit", "--store", store_url, "--action", "user_add", "-o", "json"]) == 0
    assert len(_lines(capsys.readouterr().out)) == 1
    assert run_cli(["audit", "--store", store_url]) == 0
    assert "user_disable" in capsys.readouterr().out


def test_labels_export_writes_the_latest_decisions_and_is_audited(
    store: Store, store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    writer = store.writer()
    writer.add_events(*events(searches("acc-1", 2) + searches("acc-2", 2, start=50)))
    writer.add_verdicts([verdict("acc-1", 0.9), verdict("acc-2", 0.8)])
    assert writer.close().ok
    store.decide("acc-1", "escalate", "look again", "alice")
    store.decide("acc-1", "confirm", "sold slots", "alice")
    store.decide("acc-2", "dismiss", "a family", "bob")
    out = tmp_path / "labels.jsonl"
    assert run_cli(["labels", "export", "--out", str(out), "--store", store_url]) == 0
    rows = _lines(out.read_text())
    assert [(r["account_id"], r["decision"], r["label"]) for r in rows] == [
        ("acc-1", "confirm", 1),
        ("acc-2", "dismiss", 0),
    ]
    capsys.readouterr()
    assert run_cli(["labels", "export", "-o", "json", "--store", store_url]) == 0
    assert _lines(capsys.readouterr().out) == rows
    exports = store.audit(action="export_labels")
    assert len(exports) == 2 and exports[0]["detail"] == {"labels": 2}
