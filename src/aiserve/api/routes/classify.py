"""`POST /v1/classify` and `POST /v1/inspect`: the course's image endpoints."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from aiserve.api.cancellation import cancel_on_disconnect
from aiserve.api.deps import ServicesDep
from aiserve.api.responses import model_response
from aiserve.api.uploads import read_image_request
from aiserve.protocol.classify import ClassifyRequest, ClassifyResponse, InspectRequest, InspectResponse
from aiserve.services.classify import classifier, classify, inspect_image

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


@router.post(
    "/classify",
    operation_id="classify-create",
    response_model=ClassifyResponse,
    openapi_extra=_body(ClassifyRequest.model_json_schema()),
)
async def classify_image(request: Request, services: ServicesDep) -> Response:
    """Classify an image: JSON `{"image": "<base64 or data URL>"}` or multipart `file`."""
    body, image = await read_image_request(request, ClassifyRequest)
    entry = classifier(services.registry, body.model)
    request.state.model = entry.spec.key
    result = await cancel_on_disconnect(
        request, classify(image, entry, top_k=body.top_k, engine=services.engine, settings=services.settings)
    )
    request.state.images = 1  # counted once classified
    payload = orjson.dumps(result.response.model_dump())
    return model_response(request, payload, queue_s=result.queue_s, inference_s=result.inference_s)


@router.post(
    "/inspect",
    operation_id="classify-inspect",
    response_model=InspectResponse,
    openapi_extra=_body(InspectRequest.model_json_schema()),
)
async def inspect(request: Request, services: ServicesDep) -> InspectResponse:
    """Format, size and mode of an image, after checking that it decodes."""
    _, image = await read_image_request(request, InspectRequest)
    return await inspect_image(image, services.settings)
