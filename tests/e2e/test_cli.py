"""The `aiserve` command line, run as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def aiserve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aiserve", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_config_show_reflects_env_and_flags_files(tmp_path: Path) -> None:
    config = tmp_path / "aiserve.toml"
    config.write_text("[server]\nport = 9001\n[engine]\nmax_batch_size = 16\n")
    out = aiserve("config", "show", "--config", str(config), env={"AISERVE_ENGINE__MAX_BATCH_SIZE": "48"})
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["server"]["port"] == 9001
    assert shown["engine"]["max_batch_size"] == 48


def test_models_list_and_prepare(tmp_path: Path) -> None:
    out = aiserve("models", "prepare", "--data-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "ready:" in out.stdout
    listing = aiserve("models", "list", "--data-dir", str(tmp_path))
    assert "all-minilm-l6-v2" in listing.stdout


def test_unknown_model_is_one_friendly_line(tmp_path: Path) -> None:
    out = aiserve("serve", "--model", "gpt-17", "--data-dir", str(tmp_path))
    assert out.returncode == 1
    assert out.stderr.strip() == "error: The model 'gpt-17' does not exist."


def test_bad_setting_is_one_friendly_line() -> None:
    out = aiserve("config", "show", env={"AISERVE_SERVER__PORT": "eighty"})
    assert out.returncode == 1
    assert out.stderr.startswith("error: invalid setting server.port")
    assert "Traceback" not in out.stderr
