"""Typed access from routes to the app's services and to the request's record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiserve.api.drain import Drain
from aiserve.api.record import RequestRecord, record_of
from aiserve.auth.principal import Principal
from aiserve.engine.protocol import EngineClient
from aiserve.errors import InvalidInput
from aiserve.observability.metrics import Metrics
from aiserve.registry.protocol import ModelManager
from aiserve.services.chat import ChatService
from aiserve.services.classify import ClassifyService
from aiserve.services.embeddings import EmbeddingService
from aiserve.services.messages import MessagesService
from aiserve.services.rerank import RerankService
from aiserve.services.responses import ResponsesService
from aiserve.settings import Settings


@dataclass(frozen=True, slots=True)
class Services:
    """Everything the lifespan built, handed to routes."""

    settings: Settings
    registry: ModelManager
    engine: EngineClient
    metrics: Metrics
    sessions: async_sessionmaker[AsyncSession]
    embeddings: EmbeddingService
    classify: ClassifyService
    chat: ChatService
    responses: ResponsesService
    messages: MessagesService
    rerank: RerankService
    drain: Drain = field(default_factory=Drain)


async def get_services(request: Request) -> Services:
    """The app's services (async, so FastAPI does not hop to a worker thread for it)."""
    services: Services = request.app.state.services
    return services


async def get_record(request: Request) -> RequestRecord:
    """The request's record."""
    return record_of(request.scope)


async def get_principal(request: Request) -> Principal:
    """The caller; routes that need one run only behind authentication."""
    principal = record_of(request.scope).principal
    if principal is None:
        raise InvalidInput("This route counts per API key; this server runs without keys (auth.enabled is false).")
    return principal


ServicesDep = Annotated[Services, Depends(get_services)]
RecordDep = Annotated[RequestRecord, Depends(get_record)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
