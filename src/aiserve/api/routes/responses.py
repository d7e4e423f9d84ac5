"""OpenAI's Responses API: `POST /v1/responses` (whole, or streamed as `response.*` events), and the responses
kept per key: `GET` and `DELETE /v1/responses/{id}`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from aiserve.api.cancellation import cancel_on_disconnect
from aiserve.api.deps import RecordDep, ServicesDep
from aiserve.api.errors import error_object
from aiserve.api.policy import Metering, policy
from aiserve.api.record import RequestRecord
from aiserve.api.responses import NamedEvent, event_stream, model_response
from aiserve.errors import AiserveError
from aiserve.protocol.responses import DeletedResponse, ResponseObject, ResponseRequest

router = APIRouter(prefix="/v1", tags=["responses"])


def owner_of(record: RequestRecord) -> str:
    """Whose stored responses a request sees: its key's (everyone's, on a server without keys)."""
    return f"key:{record.principal.key_id}" if record.principal is not None else "open"


def _failed(exc: AiserveError) -> NamedEvent:
    error = error_object(exc)["error"]
    return "error", {"type": "error", "code": error["code"], "message": error["message"], "param": error["param"]}


@router.post("/responses", operation_id="responses-create", response_model=ResponseObject,
             responses={200: {"description": "With `stream`: `response.created`, `response.in_progress`, the output "
                              "items' events, then `response.completed` (or `response.incomplete`).",
                              "content": {"text/event-stream": {"schema": {"type": "string"}}}}})  # fmt: skip
@policy("inference", Metering.TOKENS, prompt=True, api="openai")
async def create_response(
    body: ResponseRequest, request: Request, record: RecordDep, services: ServicesDep
) -> Response:
    """A model response to text, images and function call outputs, kept for `previous_response_id` when `store`."""
    owner = owner_of(record)
    if body.stream:
        return event_stream(await services.responses.stream(body, owner, record), _failed, record)
    answer = await cancel_on_disconnect(request, services.responses.create(body, owner, record))
    return model_response(answer, record)


@router.get("/responses/{response_id}", operation_id="responses-get")
@policy("inference", Metering.REQUESTS)
async def get_response(response_id: str, services: ServicesDep, record: RecordDep) -> ResponseObject:
    """A stored response of this key."""
    return await services.responses.get(owner_of(record), response_id)


@router.delete("/responses/{response_id}", operation_id="responses-delete")
@policy("inference", Metering.REQUESTS)
async def delete_response(response_id: str, services: ServicesDep, record: RecordDep) -> DeletedResponse:
    """Forget a stored response of this key."""
    return await services.responses.delete(owner_of(record), response_id)
