"""What every service is built on."""

from __future__ import annotations

from aiserve.engine.protocol import EngineClient
from aiserve.registry.protocol import ModelLookup
from aiserve.settings import Settings


class ModelService:
    """A use case over the models: which model a name means, the engine that runs it, and the settings."""

    def __init__(self, models: ModelLookup, engine: EngineClient, settings: Settings) -> None:
        self._models = models
        self._engine = engine
        self._settings = settings
