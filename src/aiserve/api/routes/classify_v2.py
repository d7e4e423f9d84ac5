"""`POST /v2/classify`: several images per request, with the model version and timings. `/v1` is unchanged."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from aiserve.api.cancellation import cancel_on_disconnect
from aiserve.api.deps import RecordDep, ServicesDep
from aiserve.api.policy import Metering, policy
from aiserve.api.responses import model_response
from aiserve.protocol.classify import ClassifyBatchRequest, ClassifyBatchResponse

router = APIRouter(prefix="/v2", tags=["classify"])


@router.post("/classify", operation_id="classify-batch", response_model=ClassifyBatchResponse)
@policy("inference", Metering.IMAGES)
async def classify_batch(
    body: ClassifyBatchRequest, request: Request, record: RecordDep, services: ServicesDep
) -> Response:
    """Classify up to 64 images; each result stands alone, so one bad image does not fail the others."""
    return model_response(await cancel_on_disconnect(request, services.classify.classify_many(body, record)), record)
