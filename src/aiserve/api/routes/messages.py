"""Anthropic's Messages API: `/v1/messages` and `/v1/messages/count_tokens`. Errors take Anthropic's shape
(`{"type": "error", "error": {"type", "message"}}`); keys come as `x-api-key` (or `Authorization: Bearer`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from starlette.responses import Response

from aiserve.api.cancellation import cancel_on_disconnect
from aiserve.api.deps import RecordDep, ServicesDep
from aiserve.api.errors import ERROR_RESPONSES, error_object
from aiserve.api.policy import Metering, policy
from aiserve.api.responses import NamedEvent, event_stream, model_response
from aiserve.errors import AiserveError
from aiserve.protocol.messages import (
    CountTokensRequest,
    Message,
    MessagesError,
    MessagesRequest,
    MessageTokensCount,
)
from aiserve.protocol.messages_stream import (
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    ContentBlockStopEvent,
    MessageDeltaEvent,
    MessageStartEvent,
    MessageStopEvent,
    PingEvent,
)


async def _anthropic_headers(
    anthropic_version: Annotated[
        str | None, Header(description="Accepted with any value: one version of the API is served.")
    ] = None,
    anthropic_beta: Annotated[
        str | None, Header(description="Accepted with any value: no beta feature changes what is served.")
    ] = None,
) -> None:
    """The headers Anthropic's clients send, documented; the answer is the same whatever they say."""
    del anthropic_version, anthropic_beta


router = APIRouter(prefix="/v1", tags=["messages"], dependencies=[Depends(_anthropic_headers)])

STREAMED = (MessageStartEvent, ContentBlockStartEvent, PingEvent, ContentBlockDeltaEvent, ContentBlockStopEvent,
            MessageDeltaEvent, MessageStopEvent)  # fmt: skip
"""Models only streams carry, for the OpenAPI schema."""

_EVENTS: dict[str, Any] = {
    "oneOf": [{"$ref": f"#/components/schemas/{m.__name__}"} for m in (*STREAMED, MessagesError)]
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {**answer, "model": MessagesError} for status, answer in ERROR_RESPONSES.items() if status != 422
}
"""The error answers, in Anthropic's shape (the 422 every route documents is never answered: a body outside the
schema is a 400 here)."""
_STREAMED_ANSWER: dict[int | str, dict[str, Any]] = {**_ERRORS, 200: {
    "description": "With `stream`: named events (`event: <type>`, then `data: <json>`): `message_start`, then per "
                   "content block `content_block_start`, its `content_block_delta`s and `content_block_stop` (a "
                   "`ping` after the first start), then `message_delta` and `message_stop`; a failure after the "
                   "first byte is an `error` event.",
    "content": {"text/event-stream": {"schema": _EVENTS}},
}}  # fmt: skip


def _failed(exc: AiserveError) -> NamedEvent:
    return "error", error_object(exc, "anthropic")


@router.post("/messages", operation_id="messages-create", response_model=Message, responses=_STREAMED_ANSWER)
@policy("inference", Metering.TOKENS, prompt=True, api="anthropic")
async def create_message(body: MessagesRequest, request: Request, record: RecordDep, services: ServicesDep) -> Response:
    """The assistant's next turn, as Anthropic's Messages API answers it; streamed as named server-sent events when
    `stream` is true."""
    if body.stream:
        return event_stream(await services.messages.stream(body, record), _failed, record)
    return model_response(await cancel_on_disconnect(request, services.messages.create(body, record)), record)


@router.post("/messages/count_tokens", operation_id="messages-count-tokens", response_model=MessageTokensCount,
             responses=_ERRORS)  # fmt: skip
@policy("inference", Metering.REQUESTS, prompt=True, api="anthropic")
async def count_tokens(
    body: CountTokensRequest, request: Request, record: RecordDep, services: ServicesDep
) -> MessageTokensCount:
    """The tokens a conversation's prompt takes on its model (chat template, system prompt, tools and what the
    vision model saw in its images included), without generating."""
    return await cancel_on_disconnect(request, services.messages.count_tokens(body, record))
