"""What a model is: its id, backend, where its files come from, and its options."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class PackageFile:
    """A file shipped inside an installed Python package."""

    package: str
    path: str
    install_hint: str


@dataclass(frozen=True, slots=True)
class LocalFile:
    """A file on this machine, e.g. a user's own ONNX model or labels file."""

    path: Path


Source = PackageFile | LocalFile


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A servable model."""

    id: str
    task: str
    backend: str
    files: dict[str, Source]
    aliases: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    builder: str | None = None
    """`module:function` that writes further files (an ONNX export, a labels file) into the model folder."""
    outputs: tuple[str, ...] = ()
    """The files `builder` writes."""
    version: str = "1"
    """Several versions of one model id can be served side by side as `id@version`."""

    @property
    def key(self) -> str:
        """`id@version`: unique among served models."""
        return f"{self.id}@{self.version}"

    def recipe(self) -> dict[str, Any]:
        """What the prepared folder is made from; a change makes `prepare` build it again."""
        return {"files": sorted(self.files), "builder": self.builder, "outputs": sorted(self.outputs)}

    def names(self) -> tuple[str, ...]:
        """The key and every alias (the bare id is resolved by the registry to a default version)."""
        return (self.key, *self.aliases)
