"""The part every backend shares, batch models and text generators alike."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar


class Runtime:
    """What every backend is given: its prepared model folder, its thread budget and its options (`device`
    among them)."""

    task: ClassVar[str]
    runtime: ClassVar[str]

    def __init__(self, model_dir: Path, *, threads: int, options: Mapping[str, Any]) -> None:
        self.model_dir = model_dir
        self.threads = threads
        self.options = dict(options)
        self.device = str(self.options.get("device", "cpu"))
