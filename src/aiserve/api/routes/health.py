"""`/`, `/health` (liveness), `/ready` (readiness) and `/metrics`."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from aiserve import __version__
from aiserve.api.deps import ServicesDep
from aiserve.api.policy import public
from aiserve.errors import ModelNotReady, NotFound, ShuttingDown
from aiserve.protocol.health import Liveness, Readiness, Welcome

router = APIRouter(tags=["health"])


@router.get("/", operation_id="health-welcome")
@public
async def welcome() -> Welcome:
    """A welcome message: the server is up."""
    return Welcome(message="Welcome to aiserve, your own AI API server!", version=__version__, docs="/docs")


@router.get("/health", operation_id="health-live")
@public
async def health() -> Liveness:
    """Liveness: the process answers. Does not depend on models."""
    return Liveness()


@router.get("/ready", operation_id="health-ready", responses={503: {"description": "Models are still loading."}})
@public
async def ready(services: ServicesDep) -> Readiness:
    """Readiness: 200 once every model is loaded and warmed, else 503 with Retry-After (also while the server
    drains to stop)."""
    if services.drain.draining:
        raise ShuttingDown("The server is shutting down.", retry_after=1.0)
    models = {e.name: e.state.value for e in services.registry.entries()}
    if not services.registry.ready:
        failed = [m for m, state in models.items() if state == "failed"]
        raise ModelNotReady(
            f"Models failed to load: {', '.join(failed)}." if failed else "Models are still loading.",
            retry_after=5.0 if failed else 1.0,
        )
    return Readiness(models=models)


@router.get("/metrics", operation_id="health-metrics", include_in_schema=False)
@public
async def metrics(services: ServicesDep) -> Response:
    """Prometheus metrics."""
    if not services.settings.observability.metrics_enabled:
        raise NotFound("Metrics are turned off on this server (observability.metrics_enabled).")
    return Response(services.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
