"""Settings precedence: overrides (CLI flags) > AISERVE_* env > .env > TOML file > defaults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from aiserve.cli.options import overrides, settings_from
from aiserve.settings import Settings, load_settings

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty working folder (no stray .env) and no AISERVE_* variables from the outer environment."""
    for key in list(os.environ):
        if key.upper().startswith("AISERVE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_toml(path: Path) -> Path:
    path.write_text(
        "[engine]\nmax_batch_size = 16\nmax_queue_items = 100\n\n[server]\nport = 9100\n",
        encoding="utf-8",
    )
    return path


def test_defaults() -> None:
    settings = load_settings()
    assert isinstance(settings, Settings)
    assert settings.engine.max_batch_size == 32
    assert settings.server.port == 8000
    assert settings.env == "dev"


def test_data_dir_follows_xdg(clean_env: Path) -> None:
    settings = load_settings()
    assert settings.data_dir == clean_env / "xdg" / "aiserve"
    assert settings.models_dir == clean_env / "xdg" / "aiserve" / "models"


def test_env_nesting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISERVE_ENGINE__MAX_BATCH_SIZE", "64")
    monkeypatch.setenv("AISERVE_SERVER__PORT", "9001")
    monkeypatch.setenv("AISERVE_MODELS__EMBEDDINGS__MAX_INPUTS_PER_REQUEST", "5")
    settings = load_settings()
    assert settings.engine.max_batch_size == 64
    assert settings.server.port == 9001
    assert settings.models.embeddings.max_inputs_per_request == 5
    assert settings.engine.max_queue_items == 4096  # untouched fields keep their defaults


def test_overrides_beat_env_and_keep_the_rest_of_the_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISERVE_ENGINE__MAX_BATCH_SIZE", "64")
    monkeypatch.setenv("AISERVE_ENGINE__MAX_WAIT_MS", "7.5")
    settings = load_settings(engine={"max_batch_size": 8})
    assert settings.engine.max_batch_size == 8
    assert settings.engine.max_wait_ms == 7.5


def test_toml_file_is_read(clean_env: Path) -> None:
    settings = load_settings(write_toml(clean_env / "aiserve.toml"))
    assert settings.engine.max_batch_size == 16
    assert settings.engine.max_queue_items == 100
    assert settings.server.port == 9100


def test_env_beats_toml_field_by_field(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISERVE_ENGINE__MAX_BATCH_SIZE", "64")
    settings = load_settings(write_toml(clean_env / "aiserve.toml"))
    assert settings.engine.max_batch_size == 64
    assert settings.engine.max_queue_items == 100  # still from the file
    assert settings.server.port == 9100


def test_config_file_from_env(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISERVE_CONFIG_FILE", str(write_toml(clean_env / "from-env.toml")))
    assert load_settings().engine.max_batch_size == 16


def test_overrides_beat_toml(clean_env: Path) -> None:
    settings = load_settings(write_toml(clean_env / "aiserve.toml"), engine={"max_queue_items": 5})
    assert settings.engine.max_queue_items == 5
    assert settings.engine.max_batch_size == 16


def test_dotenv_is_read_and_env_beats_it(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / ".env").write_text("AISERVE_ENGINE__MAX_QUEUE_ITEMS=77\nAISERVE_SERVER__PORT=9200\n", encoding="utf-8")
    monkeypatch.setenv("AISERVE_SERVER__PORT", "9300")
    settings = load_settings(write_toml(clean_env / "aiserve.toml"))
    assert settings.engine.max_queue_items == 77  # .env beats the file
    assert settings.server.port == 9300  # env beats .env


def test_missing_config_file_raises(clean_env: Path) -> None:
    missing = clean_env / "nope.toml"
    with pytest.raises(FileNotFoundError, match="nope.toml"):
        load_settings(missing)


def test_missing_config_file_from_env_raises(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISERVE_CONFIG_FILE", str(clean_env / "gone.toml"))
    with pytest.raises(FileNotFoundError, match="gone.toml"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AISERVE_ENGINE__MAX_BATCH_SIZE", "0"),
        ("AISERVE_ENGINE__MAX_BATCH_SIZE", "lots"),
        ("AISERVE_SERVER__PORT", "70000"),
        ("AISERVE_ENV", "staging"),
        ("AISERVE_OBSERVABILITY__LOG_LEVEL", "verbose"),
    ],
)
def test_invalid_env_values_raise(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        load_settings()


@pytest.mark.parametrize(
    "group",
    [{"engine": {"max_batch_size": 2000}}, {"server": {"port": -1}}, {"server": {"request_timeout_s": 0}}],
)
def test_invalid_overrides_raise(group: dict[str, dict[str, object]]) -> None:
    with pytest.raises(ValidationError):
        load_settings(**group)  # type: ignore[arg-type]


def test_invalid_toml_value_raises(clean_env: Path) -> None:
    path = clean_env / "bad.toml"
    path.write_text("[engine]\nmax_queue_items = 0\n", encoding="utf-8")
    with pytest.raises(ValidationError):
        load_settings(path)


def test_cpu_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(engine={"threads": 3}).cpu_threads() == 3
    assert load_settings().cpu_threads() >= 1


# --- cli.options.overrides ------------------------------------------------------------------------------------


def test_overrides_skip_none_and_nest_groups() -> None:
    data_dir = Path("/srv/aiserve")
    got = overrides(
        server__port=9000,
        server__host=None,
        server__max_body_bytes=10,
        engine__max_batch_size=None,
        models__embeddings__truncate=False,
        data_dir=data_dir,
        env=None,
    )
    assert got == {
        "server": {"port": 9000, "max_body_bytes": 10},
        "models": {"embeddings": {"truncate": False}},
        "data_dir": data_dir,
    }


def test_overrides_of_nothing_is_empty() -> None:
    assert overrides() == {}
    assert overrides(a=None, b__c=None) == {}


def test_false_and_zero_flags_are_kept() -> None:
    assert overrides(a__b=0, c=False, d="") == {"a": {"b": 0}, "c": False, "d": ""}


def test_settings_from_applies_flags_over_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISERVE_SERVER__PORT", "9001")
    monkeypatch.setenv("AISERVE_SERVER__HOST", "0.0.0.0")
    settings = settings_from(None, server__port=9002, server__host=None)
    assert settings.server.port == 9002
    assert settings.server.host == "0.0.0.0"


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("sqlite:///data/aiserve.db", "sqlite+aiosqlite:///data/aiserve.db"),
        ("postgresql://u:p@db:5432/aiserve", "postgresql+asyncpg://u:p@db:5432/aiserve"),
        ("postgres://u:p@db/aiserve", "postgresql+asyncpg://u:p@db/aiserve"),
        ("postgresql+asyncpg://u:p@db/aiserve", "postgresql+asyncpg://u:p@db/aiserve"),
    ],
)
def test_the_usual_database_urls_get_the_async_drivers(given: str, used: str) -> None:
    assert load_settings(database={"url": given}).database_url() == used


@pytest.mark.parametrize("url", ["mysql://u:p@db/x", "aiserve.db", "postgresql+psycopg2://u@db/x"])
def test_an_unusable_database_url_is_one_clear_error(url: str) -> None:
    with pytest.raises(ValidationError, match=r"database\.url"):
        load_settings(database={"url": url})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"auth": {"enabled": False}}, "auth.enabled is false"),
        ({"auth": {"bootstrap_key": "sk-CHANGE-ME-to-at-least-24-random-characters"}}, "auth.bootstrap_key"),
        ({"database": {"url": "postgresql://aiserve:change-me@postgres/aiserve"}}, "database.url"),
        ({"ratelimit": {"redis_url": "redis://:replace_me@redis:6379/0"}}, "ratelimit.redis_url"),
    ],
)
def test_prod_refuses_placeholder_secrets_and_authentication_off(overrides: dict[str, Any], message: str) -> None:
    assert load_settings(**overrides).env == "dev"  # dev takes them
    with pytest.raises(ValidationError, match=message):
        load_settings(env="prod", **overrides)


def test_prod_takes_real_secrets() -> None:
    settings = load_settings(env="prod", auth={"bootstrap_key": "sk-" + "Zq8" * 10},
                             database={"url": "postgresql://aiserve:Kx9v2LmQ@postgres/aiserve"})  # fmt: skip
    assert settings.env == "prod"
