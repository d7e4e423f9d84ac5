"""`GET /v1/admin/state`: the server's own figures now (queues, batches, tokens), as JSON for the web console."""

from __future__ import annotations

import time

from fastapi import APIRouter

from aiserve.api.deps import ServicesDep
from aiserve.api.policy import policy
from aiserve.observability.metrics import ModelFigures
from aiserve.protocol.state import ModelActivity, ServerState

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.get("/state", operation_id="admin-server-state")
@policy("admin")
async def server_state(services: ServicesDep) -> ServerState:
    """Requests in flight and answered, and for each registered model its queue depth, batches and inputs run,
    and tokens generated so far. Poll it: the difference of two readings over the time between them is the rate
    (tokens per second, mean batch size)."""
    metrics = services.metrics
    figures = metrics.figures()
    models = []
    for entry in services.registry.entries():
        found = figures.get(entry.spec.key, ModelFigures())
        models.append(
            ModelActivity(
                model=entry.name or entry.spec.key,
                key=entry.spec.key,
                task=entry.spec.task,
                status=entry.state.value,
                queue_depth=found.queue_depth,
                batches=found.batches,
                batched_inputs=found.batched_inputs,
                generated_tokens=found.generated_tokens,
                generations=found.generations,
            )
        )
    return ServerState(
        uptime_s=round(time.monotonic() - metrics.started, 3),
        in_flight=services.drain.in_flight,
        requests=metrics.requests_answered(),
        models=models,
    )
