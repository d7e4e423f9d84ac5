"""The model registry: which models this server serves, their load state, and readiness."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiserve.engine.backends import resolve_backend
from aiserve.engine.backends.base import ModelBackend
from aiserve.engine.batcher import BatchPolicy
from aiserve.engine.engine import Engine
from aiserve.errors import ModelNotFound
from aiserve.registry.catalog import BUILTIN
from aiserve.registry.prepare import prepare
from aiserve.registry.spec import ModelSpec
from aiserve.settings import Settings

log = logging.getLogger(__name__)


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


def find_spec(name: str, catalog: tuple[ModelSpec, ...] = BUILTIN) -> ModelSpec:
    """The catalog model called `name` (id or alias, case-insensitive)."""
    wanted = name.lower()
    for spec in catalog:
        if wanted in (n.lower() for n in spec.names()):
            return spec
    raise ModelNotFound(name)


def load_backend(settings: Settings, spec: ModelSpec, *, warmup_batch: int) -> ModelBackend[Any, Any, Any, Any]:
    """Prepare (if allowed), load and warm one model, on the calling thread."""
    models_dir = settings.models_dir
    folder = prepare(models_dir, spec) if settings.models.prepare_on_start else models_dir / spec.id
    options = {**spec.options}
    if spec.task == "embeddings":
        options["truncate"] = settings.models.embeddings.truncate
    elif spec.task == "classification":
        options["max_pixels"] = settings.models.classification.max_image_pixels
    backend = resolve_backend(spec.backend)(folder, threads=settings.cpu_threads(), options=options)
    backend.load()
    backend.run_batch(backend.warmup_items(warmup_batch))
    backend.run_batch(backend.warmup_items(1))
    return backend


class ModelRegistry:
    """Loads the enabled models into the engine and answers which model a name means."""

    def __init__(self, settings: Settings, engine: Engine, catalog: tuple[ModelSpec, ...] = BUILTIN) -> None:
        self._settings = settings
        self._engine = engine
        self._entries: dict[str, ModelEntry] = {}
        self._names: dict[str, str] = {}
        self._backends: dict[str, ModelBackend[Any, Any, Any, Any]] = {}
        for name in settings.models.enabled:
            spec = find_spec(name, catalog)
            self._entries[spec.id] = ModelEntry(spec)
            self._names.update({n.lower(): spec.id for n in spec.names()})
        self.policy = BatchPolicy(
            max_batch_size=settings.engine.max_batch_size,
            max_wait_s=settings.engine.max_wait_ms / 1000,
            max_queue_items=settings.engine.max_queue_items,
        )

    def resolve(self, name: str) -> ModelEntry:
        """The entry for a model id or alias; `ModelNotFound` if none."""
        model_id = self._names.get(name.lower())
        if model_id is None:
            raise ModelNotFound(name)
        return self._entries[model_id]

    def default_for(self, task: str) -> ModelEntry:
        """The first enabled model for `task`; `ModelNotFound` if this server has none."""
        for entry in self._entries.values():
            if entry.spec.task == task:
                return entry
        raise ModelNotFound(f"(any {task} model)")

    def entries(self) -> list[ModelEntry]:
        """Every registered model."""
        return list(self._entries.values())

    @property
    def ready(self) -> bool:
        """Whether every model is loaded and warmed."""
        return all(e.state is ModelState.READY for e in self._entries.values())

    async def load_all(self) -> None:
        """Prepare, load and warm every model, one after another; a failure marks only that model."""
        for entry in self._entries.values():
            await self._load(entry)

    async def _load(self, entry: ModelEntry) -> None:
        spec, started = entry.spec, time.perf_counter()
        try:
            backend = await asyncio.to_thread(self._build, spec)
        except Exception as exc:
            entry.state, entry.error = ModelState.FAILED, f"{type(exc).__name__}: {exc}"
            log.exception("model %s failed to load", spec.id)
            return
        self._backends[spec.id] = backend
        self._engine.add(spec.id, backend, self.policy)
        entry.info, entry.runtime, entry.state = backend.info(), backend.runtime, ModelState.READY
        log.info("model %s ready in %.2f s", spec.id, time.perf_counter() - started, extra={"model": spec.id})

    def _build(self, spec: ModelSpec) -> ModelBackend[Any, Any, Any, Any]:
        return load_backend(self._settings, spec, warmup_batch=self.policy.max_batch_size)

    async def close(self) -> None:
        """Stop serving and release every model."""
        await self._engine.close(self._settings.server.graceful_shutdown_s)
        for backend in self._backends.values():
            backend.unload()
        self._backends.clear()
