"""The composition root: `create_app(settings)` builds the ASGI app; its lifespan owns every resource."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI

from aiserve import __version__
from aiserve.api.auth import AuthMiddleware
from aiserve.api.bootstrap import bootstrap
from aiserve.api.deps import Services
from aiserve.api.errors import ERROR_RESPONSES, install_error_handlers
from aiserve.api.mcp.http import McpEndpoint, McpToolPolicies
from aiserve.api.middleware import RequestContextMiddleware
from aiserve.api.openapi import add_schemas
from aiserve.api.policy import PolicyTable
from aiserve.api.principals import key_lookup
from aiserve.api.proxies import ProxyHeadersMiddleware
from aiserve.api.ratelimit import AddressLimitMiddleware, RateLimitMiddleware
from aiserve.api.routes import (
    admin,
    chat,
    classify,
    classify_v2,
    embeddings,
    health,
    me,
    messages,
    models,
    rerank,
    responses,
    state,
    ui,
    usage,
)
from aiserve.auth.backend import KeyAuthenticator
from aiserve.engine.engine import Engine
from aiserve.observability.logging import configure_logging
from aiserve.observability.metrics import Metrics
from aiserve.ratelimit.factory import make_limiter
from aiserve.registry.registry import ModelRegistry
from aiserve.services.chat import ChatService
from aiserve.services.classify import ClassifyService
from aiserve.services.embeddings import EmbeddingService
from aiserve.services.messages import MessagesService
from aiserve.services.rerank import RerankService
from aiserve.services.responses import ResponsesService
from aiserve.settings import Settings, load_settings
from aiserve.usage import reports
from aiserve.usage.aliases import DatabaseAliases
from aiserve.usage.db import make_engine, migrate, sessions
from aiserve.usage.recorder import UsageRecorder
from aiserve.usage.responses import DatabaseResponses

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. Nothing is loaded until the lifespan starts; models then load in the background and
    `/ready` turns 200 when they are warm."""
    settings = settings or load_settings()
    metrics = Metrics()
    engine = Engine(observer=metrics)
    database = make_engine(settings)
    made_sessions = sessions(database)
    registry = ModelRegistry(settings, engine, shared=DatabaseAliases(made_sessions))
    chat_service = ChatService(registry, engine, settings)
    services = Services(
        settings=settings, registry=registry, engine=engine, metrics=metrics, sessions=made_sessions,
        embeddings=EmbeddingService(registry, engine, settings), classify=ClassifyService(registry, engine, settings),
        chat=chat_service, responses=ResponsesService(chat_service, DatabaseResponses(made_sessions), settings),
        messages=MessagesService(chat_service), rerank=RerankService(registry, engine, settings),
    )  # fmt: skip
    mcp = McpEndpoint(services)
    authenticator = KeyAuthenticator(key_lookup(services.sessions), cache_s=settings.auth.cache_s)
    recorder = UsageRecorder(services.sessions, folder=settings.data_dir / "ledger",
                             on_dead_letter=metrics.ledger_dead_letters.inc)  # fmt: skip
    redis_url = settings.ratelimit.redis_url.get_secret_value() if settings.ratelimit.redis_url else None
    limiter = make_limiter(settings.ratelimit.backend, redis_url, fail_open=settings.ratelimit.fail_open)

    async def month_to_date(key_id: int, since: datetime) -> tuple[int, int]:
        async with services.sessions() as session:
            return await reports.month_to_date(session, key_id=key_id, since=since,
                                               tokens_per_image=settings.ratelimit.tokens_per_image)  # fmt: skip

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.observability)
        app.state.services = services
        if settings.database.migrate_on_start:
            await migrate(database)
        if settings.auth.enabled:
            await bootstrap(settings, services.sessions)
        recorder.start()
        await _keep_sharing_aliases(registry, starting=True)
        loading = asyncio.create_task(_load(registry, metrics), name="load-models")
        sharing = asyncio.create_task(_keep_sharing_aliases(registry), name="share-aliases")
        try:
            async with mcp.running():  # its tool calls end before the models they use close
                yield
        finally:
            for task in (sharing, loading):
                task.cancel()
            await asyncio.gather(sharing, loading, return_exceptions=True)
            gc.unfreeze()
            await registry.close()
            await recorder.close()  # every answered request's event, before the database closes
            await limiter.close()
            await database.dispose()
            log.info("stopped")

    app = FastAPI(
        title="aiserve",
        version=__version__,
        summary="Your own AI API server: embeddings, image classification and chat on hardware you control, "
        "OpenAI-compatible.",
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(ui.router)
    routers = (models.router, embeddings.router, rerank.router, chat.router, responses.router, messages.router,
               classify.router, classify_v2.router, usage.router, me.router, admin.router, state.router,
               mcp.router)  # fmt: skip
    for router in routers:
        app.include_router(router, responses=ERROR_RESPONSES)
    add_schemas(app, (*chat.STREAMED, *messages.STREAMED))
    docs = frozenset(p for p in (app.docs_url, app.redoc_url, app.openapi_url, app.swagger_ui_oauth2_redirect_url) if p)
    policies = PolicyTable(app.router.routes, docs)  # every route's declared policy; a route without one fails here
    if settings.auth.enabled:  # added innermost first: the limiter counts what authentication let through
        app.add_middleware(RateLimitMiddleware, limiter=limiter, settings=settings.ratelimit,
                           month_to_date=month_to_date)  # fmt: skip
    # a tool call takes its tool's policy here, between authentication (no body is read without a key) and the limiter
    app.add_middleware(McpToolPolicies, max_prompt_bytes=settings.models.chat.max_body_bytes)
    app.add_middleware(AuthMiddleware, authenticator=authenticator if settings.auth.enabled else None)
    per_address = settings.ratelimit.ip_requests_per_minute
    if per_address:  # before any key is checked
        app.add_middleware(AddressLimitMiddleware, limiter=limiter, per_minute=per_address)
    app.add_middleware(
        RequestContextMiddleware,
        policies=policies,
        metrics=metrics,
        max_body_bytes=settings.server.max_body_bytes,
        max_prompt_bytes=settings.models.chat.max_body_bytes,
        access=settings.observability.access_log,
        recorder=recorder,
        drain=services.drain,
    )
    if settings.server.trusted_proxies:  # outermost: everything after sees the real client
        app.add_middleware(ProxyHeadersMiddleware, trusted=settings.server.trusted_proxies)
    return app


_SHARE_EVERY_S = 2.0
"""How soon a replica follows an alias another replica moved."""


async def _keep_sharing_aliases(registry: ModelRegistry, *, starting: bool = False) -> None:
    """Take the aliases the replicas share now (at start, once), then keep following the ones other replicas
    move; while the database is away the aliases kept on disk serve, and that is logged once."""
    failing = False
    while True:
        try:
            await registry.share_aliases(starting=starting)
            failing = False
        except Exception as exc:
            if not failing:
                log.warning("cannot read the shared aliases (%s); serving with the ones kept on disk",
                            type(exc).__name__)  # fmt: skip
            failing = True
        if starting:
            return
        await asyncio.sleep(_SHARE_EVERY_S)


async def _load(registry: ModelRegistry, metrics: Metrics) -> None:
    await registry.load_all()
    metrics.models_ready.set(sum(e.state.value == "ready" for e in registry.entries()))
    # What is alive now (modules, routes, schemas, the models' Python objects: some 200,000) lives as long as the
    # server. Out of the cyclic collector's sight, a full collection under load takes ~10 ms instead of ~150 ms of
    # CPU with the GIL held: a stall that every request in the event loop, a quick 503 too, would wait out. (No
    # gc.collect() first: it would block the loop as long, and startup leaves little cyclic garbage to keep.) The
    # lifespan's end gives them back to the collector (`gc.unfreeze`).
    gc.freeze()
