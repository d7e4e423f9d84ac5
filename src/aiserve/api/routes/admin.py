"""`/v1/admin`: load and unload models on a running server."""

from __future__ import annotations

from fastapi import APIRouter

from aiserve.api.deps import ServicesDep
from aiserve.api.routes.models import card
from aiserve.errors import ModelLoadFailed
from aiserve.protocol.models import ModelCard, ModelRef
from aiserve.registry.registry import ModelState

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post("/models/load", operation_id="admin-load-model")
async def load_model(body: ModelRef, services: ServicesDep) -> ModelCard:
    """Prepare (if needed), load and warm a catalogue model, then serve it beside the others. Answers when it
    is ready; a failed load answers 500 with the reason and leaves the other models serving."""
    entry = await services.registry.load(body.model)
    if entry.state is ModelState.FAILED:
        raise ModelLoadFailed(f"The model '{entry.spec.key}' failed to load: {entry.error}")
    return card(entry)


@router.post("/models/unload", operation_id="admin-unload-model")
async def unload_model(body: ModelRef, services: ServicesDep) -> ModelCard:
    """Stop serving a model. Requests already queued on it finish first; new ones no longer find it."""
    entry = await services.registry.unload(body.model)
    result = card(entry)
    result.status = "unloaded"
    return result
