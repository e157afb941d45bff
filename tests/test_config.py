"""Configuration is resolved once: flags over environment over file over defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from slotguard.config import ConfigError, Settings, resolve


def test_defaults_need_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = resolve(environ={})
    assert settings == Settings()
    assert settings.store_url == "chdb:var/store"


def test_flags_beat_environment_beats_file(tmp_path: Path) -> None:
    config = tmp_path / "conf.toml"
    config.write_text('[slotguard]\nstore = "chdb:from-file"\ndata_dir = "file-dir"\n[engine]\nlateness_s = 60\n')
    env = {"SLOTGUARD_STORE": "clickhouse://u:p@h:9000/db", "SLOTGUARD_DATA_DIR": "env-dir"}
    from_file = resolve(environ={}, config_path=str(config))
    assert from_file.store == "chdb:from-file" and from_file.engine.lateness_s == 60.0
    from_env = resolve(environ=env, config_path=str(config))
    assert from_env.store == "clickhouse://u:p@h:9000/db" and from_env.data_dir == Path("env-dir")
    from_flags = resolve(flags={"store": "chdb:flag"}, environ=env, config_path=str(config))
    assert from_flags.store == "chdb:flag" and from_flags.data_dir == Path("env-dir")
    assert from_flags.engine.lateness_s == 60.0


def test_environment_can_name_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[engine]\nscore_interval_s = 30\n")
    assert resolve(environ={"SLOTGUARD_CONFIG": str(config)}).engine.score_interval_s == 30.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[slotguard]\nstorr = 'x'\n", "unknown [slotguard] setting 'storr'"),
        ("[engine]\nlatenes_s = 3\n", "unknown [engine] setting 'latenes_s'"),
        ("[engine]\nlateness_s = 'soon'\n", "must be a number"),
        ("not toml = = =", "not valid TOML"),
    ],
)
def test_bad_configuration_says_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        resolve(environ={}, config_path=str(config))


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Settings().store = "x"  # type: ignore[misc]
