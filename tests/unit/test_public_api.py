"""The package's public surface, and the layer rule checked at run time: the engine knows nothing of the web."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import aiserve

pytestmark = pytest.mark.unit

WEB_PACKAGES = ("fastapi", "starlette")


def test_public_names() -> None:
    assert aiserve.__all__ == ["__version__"]
    assert isinstance(aiserve.__version__, str)
    assert aiserve.__version__


def _web_modules_after_importing(*modules: str) -> list[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {WEB_PACKAGES!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert isinstance(loaded, list)
    return loaded


def test_engine_and_registry_do_not_import_the_web_stack() -> None:
    loaded = _web_modules_after_importing(
        "aiserve.engine",
        "aiserve.engine.engine",
        "aiserve.engine.batcher",
        "aiserve.engine.backends.dummy",
        "aiserve.registry.registry",
    )
    assert loaded == [], f"the engine layer pulled in: {loaded}"


def test_the_check_would_notice_a_web_import() -> None:
    assert "fastapi" in _web_modules_after_importing("aiserve.api.errors")
