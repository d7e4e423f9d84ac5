"""Typed access to the app's services from routes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiserve.api.drain import Drain
from aiserve.engine.protocol import EngineClient
from aiserve.observability.metrics import Metrics
from aiserve.registry.registry import ModelRegistry
from aiserve.settings import Settings


@dataclass(frozen=True, slots=True)
class Services:
    """Everything the lifespan built, handed to routes."""

    settings: Settings
    registry: ModelRegistry
    engine: EngineClient
    metrics: Metrics
    sessions: async_sessionmaker[AsyncSession]
    drain: Drain = field(default_factory=Drain)


async def get_services(request: Request) -> Services:
    """The app's services (async, so FastAPI does not hop to a worker thread for it)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
