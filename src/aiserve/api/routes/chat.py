"""OpenAI `/v1/chat/completions` and `/v1/completions`; the course's `/v1/hello`, `/v1/chat`, `/v1/chat/stream`."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from aiserve.api.cancellation import cancel_on_disconnect
from aiserve.api.deps import ServicesDep
from aiserve.api.errors import error_event
from aiserve.api.sse import DONE, event_stream, json_event, text_event
from aiserve.engine.generation import Event, Finished, GenerationRequest, Piece, SamplingParams
from aiserve.errors import AiserveError
from aiserve.protocol.chat import ChatCompletionRequest, ChatReply, ChatRequest, CompletionRequest
from aiserve.services.chat import (
    chat_generation,
    chat_model,
    collect,
    completion_id,
    finish_reason,
    first_event,
    generate,
    text_generation,
    usage,
)

router = APIRouter(prefix="/v1", tags=["chat"])

Choice = Callable[[Event], dict[str, Any]]


async def _counted(request: Request, events: AsyncGenerator[Event, None]) -> AsyncGenerator[Event, None]:
    """Pass the events on; note the answer's token counts for the usage ledger."""
    async for event in events:
        if isinstance(event, Finished):
            request.state.input_tokens = event.prompt_tokens
            request.state.output_tokens = event.completion_tokens
        yield event


def _reason(event: Event) -> str | None:
    return finish_reason(event) if isinstance(event, Finished) else None


@router.post("/chat/completions", operation_id="chat-completions", response_model=None)
async def chat_completions(body: ChatCompletionRequest, request: Request, services: ServicesDep) -> Response:
    """OpenAI-compatible chat completion, streamed as server-sent events when `stream` is true."""
    entry = chat_model(services.registry, body.model)
    request.state.model = entry.spec.key
    events = _counted(
        request, generate(services.engine, entry, chat_generation(body, services.settings), services.settings)
    )
    cid, created = completion_id("chatcmpl")
    ident = {"id": cid, "created": created, "model": entry.name}
    if body.stream:
        first = await first_event(events)

        def choice(event: Event) -> dict[str, Any]:
            delta = {"content": event.text} if isinstance(event, Piece) else {}
            return {"index": 0, "delta": delta, "finish_reason": _reason(event)}

        opening = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
        base = {**ident, "object": "chat.completion.chunk"}
        return event_stream(_openai_stream(first, events, base, choice, opening, body.wants_usage()))
    answer = await cancel_on_disconnect(request, collect(events))
    return JSONResponse({
        **ident, "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text},
                     "finish_reason": finish_reason(answer.finished), "logprobs": None}],
        "usage": usage(answer.finished),
    })  # fmt: skip


@router.post("/completions", operation_id="chat-text-completions", response_model=None)
async def completions(body: CompletionRequest, request: Request, services: ServicesDep) -> Response:
    """OpenAI-compatible text completion of `prompt`, streamed when `stream` is true."""
    entry = chat_model(services.registry, body.model)
    request.state.model = entry.spec.key
    events = _counted(
        request, generate(services.engine, entry, text_generation(body, services.settings), services.settings)
    )
    cid, created = completion_id("cmpl")
    base = {"id": cid, "created": created, "model": entry.name, "object": "text_completion"}
    if body.stream:
        first = await first_event(events)

        def choice(event: Event) -> dict[str, Any]:
            text = event.text if isinstance(event, Piece) else ""
            return {"index": 0, "text": text, "logprobs": None, "finish_reason": _reason(event)}

        return event_stream(_openai_stream(first, events, base, choice, None, body.wants_usage()))
    answer = await cancel_on_disconnect(request, collect(events))
    return JSONResponse({
        **base,
        "choices": [{"index": 0, "text": answer.text, "logprobs": None,
                     "finish_reason": finish_reason(answer.finished)}],
        "usage": usage(answer.finished),
    })  # fmt: skip


async def _openai_stream(
    first: Event,
    events: AsyncGenerator[Event, None],
    base: dict[str, Any],
    choice: Choice,
    opening: dict[str, Any] | None,
    include_usage: bool,
) -> AsyncIterator[bytes]:
    """`base` plus one choice per event; a usage chunk (no choices) at the end when asked; then `[DONE]`."""
    if opening is not None:
        yield json_event({**base, "choices": [opening]})
    event: Event | None = first
    try:
        while event is not None:
            yield json_event({**base, "choices": [choice(event)]})
            if isinstance(event, Finished):
                if include_usage:
                    yield json_event({**base, "choices": [], "usage": usage(event)})
                break
            event = await anext(events, None)
    except AiserveError as exc:
        yield json_event(error_event(exc))
    finally:
        await events.aclose()  # a client that left stops the model within one token
    yield DONE


@router.get("/hello", operation_id="chat-hello")
async def hello() -> dict[str, str]:
    """A fixed greeting (the course's first endpoint)."""
    return {"message": "Hello from aiserve!"}


def _course_request(body: ChatRequest) -> GenerationRequest:
    params = SamplingParams(max_tokens=body.max_tokens, temperature=body.temperature)
    return GenerationRequest(messages=(("user", body.message),), params=params)


@router.post("/chat", operation_id="chat-message")
async def chat(body: ChatRequest, request: Request, services: ServicesDep) -> ChatReply:
    """The course's chat: `{"message": ...}` in, `{"reply": ...}` out."""
    entry = chat_model(services.registry, body.model)
    request.state.model = entry.spec.key
    answer = await cancel_on_disconnect(
        request, collect(_counted(request, generate(services.engine, entry, _course_request(body), services.settings)))
    )
    return ChatReply(model=entry.name, reply=answer.text)


@router.post("/chat/stream", operation_id="chat-stream", response_class=Response)
async def chat_stream(body: ChatRequest, request: Request, services: ServicesDep) -> Response:
    """The course's streaming chat: one `data: <text>` event per token, then `data: [DONE]`."""
    entry = chat_model(services.registry, body.model)
    request.state.model = entry.spec.key
    events = _counted(request, generate(services.engine, entry, _course_request(body), services.settings))
    first = await first_event(events)

    async def pieces() -> AsyncIterator[bytes]:
        event: Event | None = first
        try:
            while isinstance(event, Piece):
                yield text_event(event.text)
                event = await anext(events, None)
        except AiserveError as exc:
            yield json_event(error_event(exc))
        finally:
            await events.aclose()
        yield DONE

    return event_stream(pieces())
