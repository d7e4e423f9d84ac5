"""`POST /v1/embeddings`, OpenAI-compatible."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from aiserve.api.cancellation import cancel_on_disconnect
from aiserve.api.deps import RecordDep, ServicesDep
from aiserve.api.policy import Metering, policy
from aiserve.api.responses import array_response
from aiserve.protocol.embeddings import EmbeddingRequest, EmbeddingResponse

router = APIRouter(prefix="/v1", tags=["embeddings"])


@router.post("/embeddings", operation_id="embeddings-create", response_model=EmbeddingResponse)
@policy("inference", Metering.TOKENS, api="openai")
async def embeddings(body: EmbeddingRequest, request: Request, record: RecordDep, services: ServicesDep) -> Response:
    """Embed a string or a list of strings."""
    return array_response(await cancel_on_disconnect(request, services.embeddings.create(body, record)), record)
