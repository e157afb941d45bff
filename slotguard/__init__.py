"""slotguard: anti-scalping detection for public appointment-booking systems (CLI and wiring)."""

__version__ = "0.1.0"
