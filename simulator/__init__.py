"""Labelled booking-traffic simulator: a family of discrete-event worlds of applicants and scalpers.

Quick use::

    from simulator import WorldParams, generate, simulate

    run = generate(WorldParams(seed=7, accounts=500, days=3))
    lines = list(run.events)          # contract-v1 JSON lines (bytes), sorted by (ts, event_id)
    labels = run.labels()             # one dict per account seen in the events
    summary = run.summary()           # what world.json holds

    simulate(WorldParams(seed=7), Path("var/world"))   # events.jsonl, labels.jsonl, world.json

See README.md in this package for the world model, the roles and how labels are defined.
"""

from simulator.params import Draws, WorldParams
from simulator.roles import (
    LEGIT_ROLES,
    MIXES,
    PRESET_DESCRIPTIONS,
    PRESETS,
    ROLE_DESCRIPTIONS,
    ROLES,
    SCALPER_ROLES,
    MixError,
    Variants,
    parse_mix,
)
from simulator.run import WorldRun, describe, generate, simulate
from simulator.structure import MECHANISMS

__all__ = [
    "LEGIT_ROLES",
    "MECHANISMS",
    "MIXES",
    "PRESETS",
    "PRESET_DESCRIPTIONS",
    "ROLES",
    "ROLE_DESCRIPTIONS",
    "SCALPER_ROLES",
    "Draws",
    "MixError",
    "Variants",
    "WorldParams",
    "WorldRun",
    "describe",
    "generate",
    "parse_mix",
    "simulate",
]
