"""`POST /v1/rerank` (the shape vLLM, llama.cpp's server, LiteLLM, Cohere and Jina share) and `POST /rerank` (Text
Embeddings Inference's)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from aiserve.api.cancellation import cancel_on_disconnect
from aiserve.api.deps import RecordDep, ServicesDep
from aiserve.api.policy import Metering, policy
from aiserve.protocol.rerank import RerankRequest, RerankResponse, TeiRank, TeiRerankRequest

router = APIRouter(tags=["rerank"])


@router.post("/v1/rerank", operation_id="rerank-create")
@policy("inference", Metering.TOKENS, api="openai")
async def rerank(body: RerankRequest, request: Request, record: RecordDep, services: ServicesDep) -> RerankResponse:
    """Order documents by their relevance to a query, best first."""
    return await cancel_on_disconnect(request, services.rerank.rerank(body, record))


@router.post("/rerank", operation_id="rerank-tei")
@policy("inference", Metering.TOKENS, api="openai")
async def rerank_tei(
    body: TeiRerankRequest, request: Request, record: RecordDep, services: ServicesDep
) -> list[TeiRank]:
    """Text Embeddings Inference's rerank: every text with its score, best first."""
    return await cancel_on_disconnect(request, services.rerank.tei(body, record))
