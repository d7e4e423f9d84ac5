"""OpenAI `/v1/chat/completions` and `/v1/completions`; the simple `/v1/hello`, `/v1/chat` and `/v1/chat/stream`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from aiserve.api.cancellation import cancel_on_disconnect
from aiserve.api.deps import RecordDep, ServicesDep
from aiserve.api.policy import Metering, policy
from aiserve.api.responses import model_response, model_stream, text_stream
from aiserve.protocol.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatReply,
    ChatRequest,
    Completion,
    CompletionRequest,
)
from aiserve.protocol.health import Greeting

router = APIRouter(prefix="/v1", tags=["chat"])

STREAMED = (ChatCompletionChunk,)
"""Models only streams carry, for the OpenAPI schema."""


def _streamed(schema: dict[str, str], text: str) -> dict[int | str, dict[str, object]]:
    """The success answer's documentation when it is streamed as server-sent events."""
    return {200: {"description": text, "content": {"text/event-stream": {"schema": schema}}}}


def _chunks_of(model: type[ChatCompletionChunk | Completion]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


@router.post("/chat/completions", operation_id="chat-completions", response_model=ChatCompletion,
             responses=_streamed(_chunks_of(ChatCompletionChunk),
                                 "With `stream`: one `ChatCompletionChunk` per event, then `[DONE]`."))  # fmt: skip
@policy("inference", Metering.TOKENS, prompt=True, api="openai")
async def chat_completions(
    body: ChatCompletionRequest, request: Request, record: RecordDep, services: ServicesDep
) -> Response:
    """OpenAI-compatible chat completion, streamed as server-sent events when `stream` is true."""
    if body.stream:
        return model_stream(await services.chat.stream_chat(body, record), record)
    return model_response(await cancel_on_disconnect(request, services.chat.complete_chat(body, record)), record)


@router.post(
    "/completions",
    operation_id="chat-text-completions",
    response_model=Completion,
    responses=_streamed(_chunks_of(Completion), "With `stream`: one `Completion` chunk per event, then `[DONE]`."),
)
@policy("inference", Metering.TOKENS, prompt=True, api="openai")
async def completions(body: CompletionRequest, request: Request, record: RecordDep, services: ServicesDep) -> Response:
    """OpenAI-compatible text completion of `prompt`, streamed when `stream` is true."""
    if body.stream:
        return model_stream(await services.chat.stream_text(body, record))
    return model_response(await cancel_on_disconnect(request, services.chat.complete_text(body, record)), record)


@router.get("/hello", operation_id="chat-hello")
@policy("inference")
async def hello() -> Greeting:
    """A fixed greeting: the smallest check that the API answers with a key."""
    return Greeting(message="Hello from aiserve!")


@router.post("/chat", operation_id="chat-message")
@policy("inference", Metering.TOKENS, prompt=True)
async def chat(body: ChatRequest, request: Request, record: RecordDep, services: ServicesDep) -> ChatReply:
    """A message in, `{"reply": ...}` out."""
    return await cancel_on_disconnect(request, services.chat.reply(body, record))


@router.post(
    "/chat/stream",
    operation_id="chat-stream",
    response_class=Response,
    responses=_streamed({"type": "string"}, "One `data: <text>` event per piece of the reply, then `data: [DONE]`."),
)
@policy("inference", Metering.TOKENS, prompt=True)
async def chat_stream(body: ChatRequest, record: RecordDep, services: ServicesDep) -> Response:
    """The reply streamed: one `data: <text>` event per piece, then `data: [DONE]`."""
    return text_stream(await services.chat.stream_reply(body, record))
