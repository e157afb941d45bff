"""Simulated worlds for benchmarks, made once and cached on disk."""

from __future__ import annotations

from pathlib import Path

from simulator import WorldParams, simulate


def cached_world(directory: Path, seed: int, accounts: int, days: int, mix: str = "default") -> Path:
    """The world directory for these parameters, simulating it first if it is not there yet."""
    if not (directory / "labels.jsonl").is_file():
        simulate(WorldParams(seed=seed, accounts=accounts, days=days, mix=mix), directory)
    return directory
