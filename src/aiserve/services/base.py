"""What every service is built on."""

from __future__ import annotations

from aiserve.engine.protocol import EngineClient
from aiserve.errors import InvalidInput
from aiserve.registry.protocol import ModelEntry, ModelLookup
from aiserve.services.meter import Meter
from aiserve.settings import Settings


class ModelService:
    """A use case over the models: which model a name means, the engine that runs it, and the settings."""

    def __init__(self, models: ModelLookup, engine: EngineClient, settings: Settings) -> None:
        self._models = models
        self._engine = engine
        self._settings = settings

    def _entry(self, name: str | None, task: str, meter: Meter, *, what: str) -> ModelEntry:
        """The model `name` means (the server's first one for `task` when none is named), noted on the meter;
        `InvalidInput` naming `model` when it does another task."""
        entry = self._models.default_for(task) if name is None else self._models.resolve(name)
        meter.model = entry.spec.key
        if entry.spec.task != task:
            raise InvalidInput(f"'{name}' is a {entry.spec.task} model, not {what}.", param="model")
        return entry
