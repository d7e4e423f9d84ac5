"""Chat and text completions: check the request, generate on the engine, answer in OpenAI's shapes (and the simple
`/v1/chat` one), whole or as a stream of chunks.

A streaming method is awaited once before its stream is handed out: a request that fails early (a prompt over the
context window, a full queue) raises then, before the first byte is sent, and so gets a proper error status.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import TypeVar

from aiserve.engine.protocol import Event, Finished, GenerationRequest, Piece, SamplingParams
from aiserve.errors import InvalidInput, ModelNotReady
from aiserve.protocol.chat import (
    AssistantMessage,
    ChatChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatReply,
    ChatRequest,
    ChunkChoice,
    ChunkDelta,
    Completion,
    CompletionChoice,
    CompletionRequest,
    SamplingFields,
    Usage,
)
from aiserve.registry.protocol import ModelEntry, require_ready
from aiserve.services.base import ModelService
from aiserve.services.meter import Meter
from aiserve.settings import Settings

_ROLES = {"developer": "system"}

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class _Answer:
    """A whole answer."""

    text: str
    finished: Finished


def sampling(request: SamplingFields, max_tokens: int | None, settings: Settings) -> SamplingParams:
    """The request's sampling parameters, checked."""
    if request.n != 1:
        raise InvalidInput("'n' must be 1: this server generates one choice per request.", param="n")
    stops = request.stops()
    if len(stops) > 4 or any(not s for s in stops):
        raise InvalidInput("'stop' takes up to 4 non-empty strings.", param="stop")
    return SamplingParams(
        max_tokens=max_tokens or settings.models.chat.default_max_tokens,
        temperature=request.temperature,
        top_p=request.top_p,
        seed=request.seed,
        stop=tuple(stops),
    )


def check_size(texts: list[str], entry: ModelEntry, settings: Settings, *, param: str) -> None:
    """Refuse, at once and before any templating or tokenising, a prompt that cannot fit the model's context
    window: too many messages, or more characters than the window could hold."""
    chat = settings.models.chat
    if len(texts) > chat.max_messages:
        raise InvalidInput(f"'{param}' has {len(texts)} messages; the limit is {chat.max_messages}.", param=param)
    window = int(entry.info.get("max_input_tokens") or 0)
    chars = sum(len(text) for text in texts)
    if window and chars > window * chat.max_chars_per_token:
        raise InvalidInput(f"The prompt has {chars} characters: more than the {window}-token context window of "
                           f"'{entry.name}' can hold.", param=param)  # fmt: skip


def chat_generation(request: ChatCompletionRequest, settings: Settings) -> GenerationRequest:
    """The conversation and its sampling parameters."""
    messages = tuple((_ROLES.get(m.role, m.role), m.text()) for m in request.messages)
    params = sampling(request, request.max_completion_tokens or request.max_tokens, settings)
    return GenerationRequest(messages=messages, params=params)


def text_generation(request: CompletionRequest, settings: Settings) -> GenerationRequest:
    """The prompt and its sampling parameters."""
    prompt = request.prompt
    if isinstance(prompt, list):
        if len(prompt) != 1:
            raise InvalidInput("'prompt' takes one string (or a list of exactly one).", param="prompt")
        prompt = prompt[0]
    return GenerationRequest(prompt=prompt, params=sampling(request, request.max_tokens, settings))


def worst_case(request: GenerationRequest, window: int) -> int:
    """The most tokens an answer can use: a byte-level tokenizer makes at most one token per byte of the prompt,
    plus the chat template's markers, plus `max_tokens`; never more than the context window holds."""
    texts = [text for _, text in request.messages] or [request.prompt]
    most = sum(len(text.encode()) + 16 for text in texts) + 32 + request.params.max_tokens
    return min(most, window) if window else most


def usage(finished: Finished) -> Usage:
    """OpenAI's usage object."""
    total = finished.prompt_tokens + finished.completion_tokens
    return Usage(prompt_tokens=finished.prompt_tokens, completion_tokens=finished.completion_tokens, total_tokens=total)


def finish_reason(finished: Finished) -> str:
    """`stop` or `length`, as OpenAI names them."""
    return "length" if finished.finish_reason == "length" else "stop"


def _ident(kind: str) -> tuple[str, int]:
    """A fresh id (`chatcmpl-…` or `cmpl-…`) and the creation time."""
    return f"{kind}-{uuid.uuid4().hex}", int(time.time())


class ChatService(ModelService):
    """`/v1/chat/completions`, `/v1/completions`, `/v1/chat` and `/v1/chat/stream`."""

    def _model(self, name: str | None, meter: Meter) -> ModelEntry:
        """The chat model named, or the server's default one; it must be ready."""
        return require_ready(self._entry(name, "chat", meter, what="a chat model"))

    async def _events(self, entry: ModelEntry, request: GenerationRequest, meter: Meter) -> AsyncGenerator[Event, None]:
        """The engine's events for `request`, noting the answer's tokens for the meter as they come, so an answer
        cut short (the client left, the deadline passed) is charged for what was sent."""
        await meter.reserve(tokens=worst_case(request, int(entry.info.get("max_input_tokens") or 0)))
        events = self._engine.stream(
            entry.spec.key, request, timeout_s=self._settings.server.request_timeout_s, owner=meter.owner
        )
        try:
            async for event in events:
                meter.input_tokens, meter.output_tokens = event.prompt_tokens, event.completion_tokens
                yield event
        finally:
            await events.aclose()  # a client that left stops the model within one token

    async def _whole(self, entry: ModelEntry, request: GenerationRequest, meter: Meter) -> _Answer:
        parts: list[str] = []
        async for event in self._events(entry, request, meter):
            if isinstance(event, Piece):
                parts.append(event.text)
            else:
                return _Answer("".join(parts), event)
        raise ModelNotReady("The answer ended early.")

    def _chat(self, request: ChatCompletionRequest, entry: ModelEntry) -> GenerationRequest:
        check_size([m.text() for m in request.messages], entry, self._settings, param="messages")
        return chat_generation(request, self._settings)

    def _text(self, request: CompletionRequest, entry: ModelEntry) -> GenerationRequest:
        prompts = request.prompt if isinstance(request.prompt, list) else [request.prompt]
        check_size(prompts, entry, self._settings, param="prompt")
        return text_generation(request, self._settings)

    async def complete_chat(self, request: ChatCompletionRequest, meter: Meter) -> ChatCompletion:
        """A whole chat completion."""
        entry = self._model(request.model, meter)
        answer = await self._whole(entry, self._chat(request, entry), meter)
        cid, created = _ident("chatcmpl")
        message = AssistantMessage(content=answer.text)
        choice = ChatChoice(index=0, message=message, finish_reason=finish_reason(answer.finished))
        return ChatCompletion(id=cid, created=created, model=entry.name, choices=[choice],
                              usage=usage(answer.finished))  # fmt: skip

    async def stream_chat(
        self, request: ChatCompletionRequest, meter: Meter
    ) -> AsyncGenerator[ChatCompletionChunk, None]:
        """A chat completion as chunks: the assistant's role first, a piece of text each, the finish reason, then
        the usage when `stream_options.include_usage` asks for it."""
        entry = self._model(request.model, meter)
        events = await _started(self._events(entry, self._chat(request, entry), meter))
        cid, created = _ident("chatcmpl")

        def chunk(choices: list[ChunkChoice], answer_usage: Usage | None = None) -> ChatCompletionChunk:
            return ChatCompletionChunk(id=cid, created=created, model=entry.name, choices=choices, usage=answer_usage)

        def piece(event: Event) -> ChatCompletionChunk:
            if isinstance(event, Piece):
                return chunk([ChunkChoice(index=0, delta=ChunkDelta(content=event.text))])
            return chunk([ChunkChoice(index=0, delta=ChunkDelta(), finish_reason=finish_reason(event))])

        opening = chunk([ChunkChoice(index=0, delta=ChunkDelta(role="assistant", content=""))])
        ending = (lambda f: chunk([], usage(f))) if request.wants_usage() else None
        return _chunks(events, piece, opening, ending)

    async def complete_text(self, request: CompletionRequest, meter: Meter) -> Completion:
        """A whole text completion."""
        entry = self._model(request.model, meter)
        answer = await self._whole(entry, self._text(request, entry), meter)
        cid, created = _ident("cmpl")
        choice = CompletionChoice(index=0, text=answer.text, finish_reason=finish_reason(answer.finished))
        return Completion(id=cid, created=created, model=entry.name, choices=[choice], usage=usage(answer.finished))

    async def stream_text(self, request: CompletionRequest, meter: Meter) -> AsyncGenerator[Completion, None]:
        """A text completion as chunks, then the usage when asked for."""
        entry = self._model(request.model, meter)
        events = await _started(self._events(entry, self._text(request, entry), meter))
        cid, created = _ident("cmpl")

        def chunk(choices: list[CompletionChoice], answer_usage: Usage | None = None) -> Completion:
            return Completion(id=cid, created=created, model=entry.name, choices=choices, usage=answer_usage)

        def piece(event: Event) -> Completion:
            if isinstance(event, Piece):
                return chunk([CompletionChoice(index=0, text=event.text)])
            return chunk([CompletionChoice(index=0, text="", finish_reason=finish_reason(event))])

        ending = (lambda f: chunk([], usage(f))) if request.wants_usage() else None
        return _chunks(events, piece, None, ending)

    async def reply(self, request: ChatRequest, meter: Meter) -> ChatReply:
        """`/v1/chat`: the whole reply to one message."""
        entry = self._model(request.model, meter)
        check_size([request.message], entry, self._settings, param="message")
        answer = await self._whole(entry, _message(request), meter)
        return ChatReply(model=entry.name, reply=answer.text)

    async def stream_reply(self, request: ChatRequest, meter: Meter) -> AsyncGenerator[str, None]:
        """`/v1/chat/stream`: the reply's text, piece by piece."""
        entry = self._model(request.model, meter)
        check_size([request.message], entry, self._settings, param="message")
        events = await _started(self._events(entry, _message(request), meter))
        return _texts(events)


def _message(request: ChatRequest) -> GenerationRequest:
    params = SamplingParams(max_tokens=request.max_tokens, temperature=request.temperature)
    return GenerationRequest(messages=(("user", request.message),), params=params)


async def _started(events: AsyncGenerator[Event, None]) -> AsyncGenerator[Event, None]:
    """`events` once its first event has arrived (raising now if the request failed early), that event included."""
    first = await anext(events)

    async def replay() -> AsyncGenerator[Event, None]:
        try:
            yield first
            async for event in events:
                yield event
        finally:
            await events.aclose()

    return replay()


async def _chunks(
    events: AsyncGenerator[Event, None],
    piece: Callable[[Event], C],
    opening: C | None,
    ending: Callable[[Finished], C] | None,
) -> AsyncGenerator[C, None]:
    try:
        if opening is not None:
            yield opening
        async for event in events:
            yield piece(event)
            if isinstance(event, Finished):
                if ending is not None:
                    yield ending(event)
                return
    finally:
        await events.aclose()


async def _texts(events: AsyncGenerator[Event, None]) -> AsyncGenerator[str, None]:
    try:
        async for event in events:
            if not isinstance(event, Piece):
                return
            yield event.text
    finally:
        await events.aclose()
