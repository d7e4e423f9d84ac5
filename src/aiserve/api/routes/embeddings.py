"""`POST /v1/embeddings`, OpenAI-compatible."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from aiserve.api.cancellation import cancel_on_disconnect
from aiserve.api.deps import ServicesDep
from aiserve.api.responses import model_response
from aiserve.protocol.embeddings import EmbeddingRequest, EmbeddingResponse
from aiserve.services.embeddings import create_embeddings

router = APIRouter(prefix="/v1", tags=["embeddings"])


@router.post("/embeddings", operation_id="embeddings-create", response_model=EmbeddingResponse)
async def embeddings(body: EmbeddingRequest, request: Request, services: ServicesDep) -> Response:
    """Embed a string or a list of strings."""
    entry = services.registry.resolve(body.model)
    request.state.model = entry.spec.key
    result = await cancel_on_disconnect(
        request, create_embeddings(body, entry, engine=services.engine, settings=services.settings)
    )
    request.state.input_tokens = result.tokens
    return model_response(request, result.body, queue_s=result.queue_s, inference_s=result.inference_s)
