"""No source module grows past 800 lines: split it before it becomes hard to review."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).parents[2] / "src" / "aiserve"
MAX_LINES = 800


def test_no_module_is_over_the_line_limit() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 10, f"found only {len(modules)} modules under {PACKAGE}"
    too_long = {}
    for path in modules:
        with path.open(encoding="utf-8") as f:
            lines = sum(1 for _ in f)
        if lines > MAX_LINES:
            too_long[str(path.relative_to(PACKAGE.parent))] = lines
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"
