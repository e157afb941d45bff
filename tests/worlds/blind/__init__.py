"""A blind second traffic simulator for slotguard.

Written only from the booking-event contract and the threat catalogue, sharing no code or assumptions with
the project's own simulator or detector, so detection quality can be measured on traffic the detector was
not built around. ``generate(seed, scenario, out)`` writes ``events.jsonl``, ``labels.jsonl`` and
``world.json``; ``SCENARIOS`` names the scenario families.
"""

from .scenarios import SCENARIOS
from .world import generate

__all__ = ["SCENARIOS", "generate"]
