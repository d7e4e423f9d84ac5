"""`POST /v2/classify`: several images per request, with the model version and timings. `/v1` is unchanged."""

from __future__ import annotations

from fastapi import APIRouter, Request

from aiserve.api.cancellation import cancel_on_disconnect
from aiserve.api.deps import ServicesDep
from aiserve.protocol.classify import ClassifyBatchRequest, ClassifyBatchResponse
from aiserve.services.classify import classifier, classify_many

router = APIRouter(prefix="/v2", tags=["classify"])


@router.post("/classify", operation_id="classify-batch")
async def classify_batch(body: ClassifyBatchRequest, request: Request, services: ServicesDep) -> ClassifyBatchResponse:
    """Classify up to 64 images; each result stands alone, so one bad image does not fail the others."""
    entry = classifier(services.registry, body.model)
    request.state.model = entry.spec.key
    result = await cancel_on_disconnect(
        request,
        classify_many(body.images, entry, top_k=body.top_k, engine=services.engine, settings=services.settings),
    )
    request.state.images = sum(item.error is None for item in result.results)  # the ones classified
    return result
