"""`POST /v1/classify` and `POST /v1/inspect`: one image each, as JSON (base64 or a data URL) or multipart."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from aiserve.api.cancellation import cancel_on_disconnect
from aiserve.api.deps import RecordDep, ServicesDep
from aiserve.api.policy import Metering, policy
from aiserve.api.responses import model_response
from aiserve.api.uploads import read_image_request
from aiserve.protocol.classify import (
    ClassifyOptions,
    ClassifyRequest,
    ClassifyResponse,
    ImageOptions,
    InspectRequest,
    InspectResponse,
)

router = APIRouter(prefix="/v1", tags=["classify"])


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    upload = {
        "type": "object",
        "properties": {
            "file": {"type": "string", "format": "binary"},
            "model": {"type": "string"},
            "top_k": {"type": "integer", "minimum": 1, "maximum": 20},
        },
        "required": ["file"],
    }
    content = {"application/json": {"schema": schema}, "multipart/form-data": {"schema": upload}}
    return {"requestBody": {"required": True, "content": content}}


@router.post("/classify", operation_id="classify-create", response_model=ClassifyResponse,
             openapi_extra=_body(ClassifyRequest.model_json_schema()))  # fmt: skip
@policy("inference", Metering.IMAGES)
async def classify_image(request: Request, record: RecordDep, services: ServicesDep) -> Response:
    """Classify an image: JSON `{"image": "<base64 or data URL>"}` or multipart `file`."""
    options, image = await read_image_request(request, ClassifyOptions, ClassifyRequest)
    result = await cancel_on_disconnect(request, services.classify.classify(image, options, record))
    return model_response(result, record)


@router.post("/inspect", operation_id="classify-inspect", response_model=InspectResponse,
             openapi_extra=_body(InspectRequest.model_json_schema()))  # fmt: skip
@policy("inference", Metering.REQUESTS)
async def inspect(request: Request, services: ServicesDep) -> InspectResponse:
    """Format, size and mode of an image, after checking that it decodes."""
    _, image = await read_image_request(request, ImageOptions, InspectRequest)
    return await services.classify.inspect(image)
