"""What the rest of the server may rely on from the registry: model entries, their states, and the two faces of
`ModelRegistry`, one for requests (`ModelLookup`) and one for operators (`ModelManager`). A leaf of the registry:
it imports nothing of the engine, so the HTTP layer reaches models without reaching the runtime."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from aiserve.errors import ModelNotReady
from aiserve.registry.spec import ModelSpec


class ModelState(StrEnum):
    """Where a model is in its life."""

    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


@dataclass(slots=True)
class ModelEntry:
    """A registered model and its state."""

    spec: ModelSpec
    state: ModelState = ModelState.LOADING
    created: int = field(default_factory=lambda: int(time.time()))
    error: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    runtime: str = ""
    startup: bool = True
    """Loaded at start (readiness waits for it), rather than later through the admin API."""
    name: str = ""
    """What clients call it: the bare id for the default version of an id (unless a movable alias of that name points
    elsewhere), else `id@version`."""


class ModelLookup(Protocol):
    """Which model a request means."""

    def resolve(self, name: str) -> ModelEntry:
        """The entry a name means (movable alias, `id@version`, static alias or bare id); `ModelNotFound` if none."""
        ...

    def default_for(self, task: str) -> ModelEntry:
        """The first registered model for `task`; `ModelNotFound` if this server has none."""
        ...

    def entries(self) -> list[ModelEntry]:
        """Every registered model."""
        ...

    def aliases_of(self, entry: ModelEntry) -> list[str]:
        """The movable aliases that point at `entry`."""
        ...

    @property
    def ready(self) -> bool:
        """Whether every model enabled at start is loaded and warmed."""
        ...


class ModelManager(ModelLookup, Protocol):
    """Loading, unloading and aliasing models while serving."""

    async def load(self, name: str) -> ModelEntry:
        """Load a catalogue model; a failed load leaves the entry `failed` with the reason."""
        ...

    async def unload(self, name: str) -> ModelEntry:
        """Stop serving a model."""
        ...

    def aliases(self) -> list[tuple[str, str]]:
        """Every movable alias and the `id@version` it points at."""
        ...

    async def set_alias(self, alias: str, target: str) -> ModelEntry:
        """Point a movable alias at a catalogue model, loading it first."""
        ...

    async def remove_alias(self, alias: str) -> str:
        """Drop a movable alias; answers the `id@version` it pointed at."""
        ...

    def registered(self, key: str) -> ModelEntry | None:
        """The entry for `id@version` if registered (no aliases looked at)."""
        ...


def require_ready(entry: ModelEntry) -> ModelEntry:
    """`entry` if it is serving, else `ModelNotReady` with a short wait."""
    if entry.state is not ModelState.READY:
        raise ModelNotReady(f"The model '{entry.name}' is {entry.state.value}.", retry_after=2.0)
    return entry
