"""Labelled worlds on disk: a directory with ``events.jsonl`` and ``labels.jsonl``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models.labels import LabelSet, read_labels


class WorldError(ValueError):
    """A directory that is not a usable labelled world; the message says what is missing."""


@dataclass(frozen=True)
class World:
    """A labelled world: its events file and its labels."""

    directory: Path
    labels: LabelSet

    @property
    def events(self) -> Path:
        return self.directory / "events.jsonl"

    @property
    def labels_path(self) -> Path:
        return self.directory / "labels.jsonl"


def load_world(directory: Path) -> World:
    """Open a world directory (as written by ``slotguard simulate``), checking both files exist."""
    for name in ("events.jsonl", "labels.jsonl"):
        if not (directory / name).is_file():
            raise WorldError(f"{directory} is not a world directory: {name} is missing")
    try:
        labels = read_labels(directory / "labels.jsonl")
    except ValueError as exc:
        raise WorldError(str(exc)) from None
    return World(directory, labels)
