"""Fixtures shared by every tier: one data directory per test session, prepared once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aiserve.registry.catalog import EFFICIENTNET_LITE0, MINILM, MINILM_RERANK, SMOLLM2, SMOLLM2_HF
from aiserve.registry.prepare import prepare
from aiserve.settings import Settings, load_settings

SLOW_MACHINE_S = 600.0
"""The request deadline and drain window of the apps and servers the tests start: tests wait for states, not
durations, so only a test about a deadline sets a short one."""

MakeSettings = Callable[..., Settings]


@pytest.fixture(autouse=True)
def _no_aiserve_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the settings they set, never the developer's environment."""
    import os

    for name in list(os.environ):
        if name.startswith("AISERVE_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the default models prepared."""
    path = tmp_path_factory.mktemp("aiserve-data")
    prepare(path / "models", MINILM)
    prepare(path / "models", EFFICIENTNET_LITE0)
    prepare(path / "models", SMOLLM2)
    prepare(path / "models", SMOLLM2_HF)
    prepare(path / "models", MINILM_RERANK)
    return path


@pytest.fixture(scope="session")
def make_settings(data_dir: Path) -> MakeSettings:
    """Settings on the session's data directory, with overrides as nested dicts."""

    def make(**overrides: Any) -> Settings:
        overrides.setdefault("observability", {}).setdefault("log_level", "warning")
        overrides.setdefault("data_dir", data_dir)
        overrides.setdefault("auth", {}).setdefault("enabled", False)  # the auth tests switch it on
        # tests wait for states, not durations: an answer on a slow or busy machine must not meet a deadline that a
        # test did not set on purpose
        overrides.setdefault("server", {}).setdefault("request_timeout_s", SLOW_MACHINE_S)
        return load_settings(**overrides)

    return make


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    """Print a test's measured counts in the test output, uncaptured."""

    def say(text: str) -> None:
        with capsys.disabled():
            print("\n" + text)  # noqa: T201

    return say
