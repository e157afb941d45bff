"""Ground-truth labels per account (from the simulator, or from investigators' decisions)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import msgspec


class Label(msgspec.Struct, frozen=True):
    """One account's truth: its role and whether it scalps.

    ``style`` is a scalper's operation style; a buyer's ``bought_from`` names what sold it a slot
    (generators differ: an operation id, or the selling accounts). Unknown fields are ignored.
    """

    account_id: str
    role: str
    scalper: bool
    operation: str | None = None
    site: str = ""
    style: str | None = None
    bought_from: str | list[str] | None = None


@dataclass(frozen=True)
class LabelSet:
    """Labels by account id."""

    by_account: dict[str, Label]

    def __len__(self) -> int:
        return len(self.by_account)

    def is_scalper(self, account_id: str) -> bool:
        label = self.by_account.get(account_id)
        return bool(label and label.scalper)


def read_labels(path: Path) -> LabelSet:
    """Read ``labels.jsonl`` (one Label object per line)."""
    if not path.is_file():
        raise FileNotFoundError(f"no such labels file: {path}")
    decoder = msgspec.json.Decoder(Label)
    labels: dict[str, Label] = {}
    with path.open("rb") as stream:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                label = decoder.decode(line)
            except msgspec.MsgspecError as exc:
                raise ValueError(f"{path}:{number}: not a label: {exc}") from None
            labels[label.account_id] = label
    return LabelSet(labels)
