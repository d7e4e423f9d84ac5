"""The model registry: which models this server serves, their load state, and readiness."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace

from aiserve.engine.backends import AnyBackend, resolve_backend
from aiserve.engine.backends.generative import GenerationBackend
from aiserve.engine.batcher import BatchPolicy
from aiserve.engine.engine import Engine
from aiserve.engine.priority import model_threads
from aiserve.errors import ModelLoadFailed, ModelNotFound
from aiserve.hardware import resolve_device
from aiserve.registry.aliases import AliasBook, SharedAliases, check_alias
from aiserve.registry.catalog import BUILTIN, catalog as full_catalog
from aiserve.registry.prepare import model_dir, prepare
from aiserve.registry.protocol import ModelEntry, ModelState
from aiserve.registry.spec import ModelSpec
from aiserve.settings import Settings

log = logging.getLogger(__name__)


def find_spec(name: str, catalog: tuple[ModelSpec, ...] = BUILTIN) -> ModelSpec:
    """The catalogue model called `name`: `id@version`, an alias, or a bare id (its first version listed)."""
    wanted = name.lower()
    for spec in catalog:
        if wanted in (n.lower() for n in spec.names()) or wanted == spec.id.lower():
            return spec
    raise ModelNotFound(name)


def load_backend(settings: Settings, spec: ModelSpec, *, warmup_batch: int) -> AnyBackend:
    """Prepare (if allowed), load and warm one model (a `ModelBackend` or a `GenerationBackend`), on the calling
    thread."""
    models_dir = settings.models_dir
    folder = prepare(models_dir, spec) if settings.models.prepare_on_start else model_dir(models_dir, spec)
    cls = resolve_backend(spec.backend)
    device = resolve_device(spec.options.get("device") or settings.engine.device, cls.runtime)
    options = {**spec.options, "device": device}
    reads = cls.Options.model_fields  # the server's settings go to the backends whose options have them
    if "truncate" in reads:
        options["truncate"] = settings.models.embeddings.truncate
    if "max_pixels" in reads:
        options["max_pixels"] = settings.models.classification.max_image_pixels
    if "slots" in reads:
        options.setdefault("slots", settings.models.chat.slots)  # 0: the runtime's own default
    backend = cls(folder, threads=settings.cpu_threads(), options=options)  # checks the options: `InvalidOptions`
    backend.load()
    if isinstance(backend, GenerationBackend):
        backend.warmup()
    else:
        backend.run_batch(backend.warmup_items(warmup_batch))
        backend.run_batch(backend.warmup_items(1))
    return backend


class ModelRegistry:
    """Loads models into the engine, at start and while serving, and answers which model a name means.

    Names: `id@version` and aliases select one version; the bare `id` selects the default version of that id,
    the first one loaded (the next one when it is unloaded).
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        catalog: tuple[ModelSpec, ...] | None = None,
        *,
        shared: SharedAliases | None = None,
    ) -> None:
        self._settings = settings
        self._shared = shared
        self._engine = engine
        self.catalog = catalog if catalog is not None else full_catalog(settings)
        self._entries: dict[str, ModelEntry] = {}
        self._backends: dict[str, AnyBackend] = {}
        self._lock = asyncio.Lock()
        self.alias_book = AliasBook(settings.data_dir / "aliases.json")  # the data volume, writable in a container
        self._names: dict[str, str] = {}
        self._register_enabled()
        self.policy = BatchPolicy(
            max_batch_size=settings.engine.max_batch_size,
            max_wait_s=settings.engine.max_wait_ms / 1000,
            max_queue_items=settings.engine.max_queue_items,
            max_share=settings.engine.max_queue_share,
            nice=settings.engine.model_nice,
        )

    def _register_enabled(self) -> None:
        """The models enabled at start, by what their names mean in the alias book now."""
        for name in self._settings.models.enabled:
            self._register(find_spec(self.alias_book.get(name) or name, self.catalog), startup=True)

    async def share_aliases(self, *, starting: bool = False) -> None:
        """Take the aliases the replicas share (the database), and load what they point at that this server does
        not serve yet, so every replica resolves a name the same way. At start, before any model loads, the
        models enabled by an alias are registered again by what the shared book says."""
        if self._shared is None:
            return
        shared, own = await self._shared.fetch(), self.alias_book.targets()
        if starting and not shared and own:  # the first replica on this database brings the aliases it kept
            for alias, target in own.items():
                await self._shared.put(alias, target)
            return
        if shared == own:
            return
        if not starting:  # load what the aliases now point at first, so none resolves to a model still loading
            for target in sorted(set(shared.values())):
                if self.registered(target) is None:
                    log.info("loading %s: another replica pointed an alias at it", target, extra={"model": target})
                    await self.load(target)
        self.alias_book.replace(shared)
        if starting:
            self._entries.clear()
            self._register_enabled()
        self._rename()

    def _register(self, spec: ModelSpec, *, startup: bool) -> ModelEntry:
        entry = ModelEntry(spec, startup=startup)
        self._entries[spec.key] = entry
        self._rename()
        return entry

    def _rename(self) -> None:
        defaults: dict[str, str] = {}
        for key, entry in self._entries.items():
            defaults.setdefault(entry.spec.id.lower(), key)
        for key, entry in self._entries.items():
            taken = (self.alias_book.get(entry.spec.id) or key).lower() != key.lower()  # a movable alias took the id
            entry.name = entry.spec.id if defaults[entry.spec.id.lower()] == key and not taken else key
        self._names = {n.lower(): key for key, e in self._entries.items() for n in e.spec.names()}
        self._names.update(defaults)

    def resolve(self, name: str) -> ModelEntry:
        """The entry for a movable alias, `id@version`, a static alias or a bare id (movable aliases first, so one
        named like an id overrides its default version); `ModelNotFound` if none is registered."""
        key = self._names.get((self.alias_book.get(name) or name).lower())
        if key is None:
            raise ModelNotFound(name)
        return self._entries[key]

    def default_for(self, task: str) -> ModelEntry:
        """The first registered model for `task`; `ModelNotFound` if this server has none."""
        for entry in self._entries.values():
            if entry.spec.task == task:
                return entry
        raise ModelNotFound(f"(any {task} model)")

    def entries(self) -> list[ModelEntry]:
        """Every registered model."""
        return list(self._entries.values())

    def aliases(self) -> list[tuple[str, str]]:
        """Every movable alias and the `id@version` it points at, by alias."""
        return self.alias_book.items()

    def aliases_of(self, entry: ModelEntry) -> list[str]:
        """The movable aliases that point at `entry`."""
        return self.alias_book.aliases_of(entry.spec.key)

    async def set_alias(self, alias: str, target: str) -> ModelEntry:
        """Point the movable alias `alias` at the catalogue model `target` (`id@version`, an alias or an id),
        loading it first when it is not loaded, and keep it in the alias book. A failed load raises
        `ModelLoadFailed` and leaves the alias where it was; a name that cannot be an alias, `InvalidInput`."""
        check_alias(alias)
        entry = await self.load(self.alias_book.get(target) or target)
        if entry.state is not ModelState.READY:
            raise ModelLoadFailed(
                f"The model '{entry.spec.key}' failed to load, so '{alias}' was not moved: {entry.error}"
            )
        if self.alias_book.get(alias) != entry.spec.key:
            check_alias(alias)
            if self._shared is not None:  # the other replicas follow within a refresh
                await self._shared.put(alias, entry.spec.key)
            self.alias_book.set(alias, entry.spec.key)
            self._rename()
            log.info("alias %s now points at %s", alias, entry.spec.key, extra={"model": entry.spec.key})
        return entry

    async def remove_alias(self, alias: str) -> str:
        """Drop a movable alias; answers the `id@version` it pointed at, `NotFound` if there is no such alias."""
        if self._shared is not None and self.alias_book.get(alias) is not None:
            await self._shared.drop(alias)
        target = self.alias_book.remove(alias)
        self._rename()
        log.info("alias %s removed (it pointed at %s)", alias, target, extra={"model": target})
        return target

    def registered(self, key: str) -> ModelEntry | None:
        """The entry for `id@version` if that model is registered (no aliases looked at), else `None`."""
        found = self._names.get(key.lower())
        return None if found is None else self._entries[found]

    @property
    def ready(self) -> bool:
        """Whether every model enabled at start is loaded and warmed (models loaded later do not count)."""
        return all(e.state is ModelState.READY for e in self._entries.values() if e.startup)

    async def load_all(self) -> None:
        """Prepare, load and warm the start-up models, one after another; a failure marks only that model."""
        for entry in list(self._entries.values()):
            async with self._lock:
                await self._load(entry)

    async def load(self, name: str) -> ModelEntry:
        """Load a catalogue model while serving (`id@version`, alias or id). Loading one already loaded is a
        no-op; a failed load leaves the entry `failed` with the reason and the other models serving."""
        try:
            spec = find_spec(name, self.catalog)
        except ModelNotFound:  # trained or quantised after the server started: look in the models folder again
            self.catalog = full_catalog(self._settings)
            spec = find_spec(name, self.catalog)
        async with self._lock:
            entry = self._entries.get(spec.key)
            if entry is not None and entry.state is ModelState.READY:
                return entry
            if entry is None:
                entry = self._register(spec, startup=False)
            entry.state, entry.error = ModelState.LOADING, None
            await self._load(entry)
            return entry

    async def unload(self, name: str) -> ModelEntry:
        """Stop serving a model: new requests no longer find it, queued ones finish first."""
        entry = self.resolve(name)
        async with self._lock:
            key = entry.spec.key
            self._entries.pop(key, None)
            self._rename()
            await self._engine.remove(key, self._settings.server.graceful_shutdown_s)
            backend = self._backends.pop(key, None)
            if backend is not None:
                backend.unload()
        log.info("model %s unloaded", key, extra={"model": key})
        return entry

    async def _load(self, entry: ModelEntry) -> None:
        spec, started = entry.spec, time.perf_counter()
        try:
            # on a thread at the models' priority: the threads a runtime starts while loading (ONNX Runtime's pool,
            # torch's) inherit it
            with model_threads(self.policy.nice, f"load-{spec.key}") as loader:
                backend = await asyncio.get_running_loop().run_in_executor(loader, self._build, spec)
        except Exception as exc:
            entry.state, entry.error = ModelState.FAILED, f"{type(exc).__name__}: {exc}"
            log.exception("model %s failed to load", spec.key)
            return
        self._backends[spec.key] = backend
        if isinstance(backend, GenerationBackend):
            self._engine.add_generator(
                spec.key,
                backend,
                max_queue=self._settings.models.chat.max_queue,
                max_share=self._settings.engine.max_queue_share,
                nice=self.policy.nice,
            )
        else:
            self._engine.add(spec.key, backend, self.policy_for(spec))
        entry.info, entry.runtime, entry.state = backend.info(), backend.runtime, ModelState.READY
        device = entry.info.get("device", "cpu")
        elapsed = time.perf_counter() - started
        log.info(
            "model %s ready on %s in %.2f s", spec.key, device, elapsed, extra={"model": spec.key, "device": device}
        )

    def _build(self, spec: ModelSpec) -> AnyBackend:
        return load_backend(self._settings, spec, warmup_batch=self.policy_for(spec).max_batch_size)

    def policy_for(self, spec: ModelSpec) -> BatchPolicy:
        """The engine's batch policy, with the model's own batch limit when it sets one (`InvalidOptions` when that
        limit is not a whole number of at least 1)."""
        from aiserve.engine.backends.options import batch_limit

        limit = batch_limit(spec.options, model=spec.key)
        return replace(self.policy, max_batch_size=limit) if limit else self.policy

    async def close(self) -> None:
        """Stop serving and release every model."""
        await self._engine.close(self._settings.server.graceful_shutdown_s)
        for backend in self._backends.values():
            backend.unload()
        self._backends.clear()
