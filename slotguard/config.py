"""Configuration, resolved once at the edge into one frozen object.

Precedence, highest first: command-line flags, environment variables (``SLOTGUARD_*``), a TOML
config file (``--config``, ``$SLOTGUARD_CONFIG`` or ``./slotguard.toml``), built-in defaults.
Nothing below the CLI reads the environment: it receives a :class:`Settings`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from features.config import EngineConfig

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO_ROOT / "models" / "artifacts" / "default"
DEV_PSEUDONYM_KEY = "slotguard-dev-key-change-me"


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know about where things are and how to run."""

    data_dir: Path = Path("var")
    store: str = ""
    model: Path = DEFAULT_MODEL
    pseudonym_key: str = DEV_PSEUDONYM_KEY
    log_level: str = "WARNING"
    #: Kafka bootstrap servers (comma-separated) for ``worker`` and ``produce``
    brokers: str = "127.0.0.1:9092"
    #: signs the investigator console's session cookies; empty: a random key per process (sessions
    #: end when the console restarts)
    console_secret: str = ""
    engine: EngineConfig = field(default_factory=EngineConfig)

    @property
    def store_url(self) -> str:
        """The store URL, defaulting to an embedded chDB store under the data directory."""
        return self.store or f"chdb:{self.data_dir / 'store'}"


_ENV = {
    "SLOTGUARD_DATA_DIR": "data_dir",
    "SLOTGUARD_STORE": "store",
    "SLOTGUARD_MODEL": "model",
    "SLOTGUARD_PSEUDONYM_KEY": "pseudonym_key",
    "SLOTGUARD_LOG_LEVEL": "log_level",
    "SLOTGUARD_BROKERS": "brokers",
    "SLOTGUARD_CONSOLE_SECRET": "console_secret",
}


def _coerce(name: str, value: Any) -> Any:
    if name in ("data_dir", "model"):
        return Path(str(value)).expanduser()
    if not isinstance(value, str):
        raise ConfigError(f"setting {name!r} must be a string, got {value!r}")
    return value


def _engine_from(table: Mapping[str, Any], base: EngineConfig) -> EngineConfig:
    known = {f.name: f.type for f in fields(EngineConfig)}
    updates: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"unknown [engine] setting {key!r}; known: {', '.join(sorted(known))}")
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(f"[engine] {key} must be a number, got {value!r}")
        updates[key] = float(value) if isinstance(getattr(base, key), float) else int(value)
    return replace(base, **updates)


def _config_file(explicit: str | None, environ: Mapping[str, str]) -> Path | None:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        return path
    if environ.get("SLOTGUARD_CONFIG"):
        path = Path(environ["SLOTGUARD_CONFIG"])
        if not path.is_file():
            raise ConfigError(f"$SLOTGUARD_CONFIG points to a missing file: {path}")
        return path
    local = Path("slotguard.toml")
    return local if local.is_file() else None


def resolve(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_path: str | None = None,
) -> Settings:
    """Build the one Settings object from defaults, file, environment and flags."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    engine = EngineConfig()
    path = _config_file(config_path, environ)
    if path is not None:
        try:
            doc = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        top = doc.get("slotguard", {})
        for key, value in top.items():
            if key not in {f.name for f in fields(Settings)} or key == "engine":
                raise ConfigError(f"{path}: unknown [slotguard] setting {key!r}")
            values[key] = _coerce(key, value)
        engine = _engine_from(doc.get("engine", {}), engine)
    for env_name, key in _ENV.items():
        if environ.get(env_name):
            values[key] = _coerce(key, environ[env_name])
    for key, value in (flags or {}).items():
        if value is not None:
            values[key] = _coerce(key, value)
    return Settings(engine=engine, **values)
