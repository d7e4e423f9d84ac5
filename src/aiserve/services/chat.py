"""Chat and text completions: check the request, generate on the engine, answer in OpenAI's shapes (and the simple
`/v1/chat` one), whole or as a stream of chunks.

A streaming method is awaited once before its stream is handed out: a request that fails early (a prompt over the
context window, a full queue) raises then, before the first byte is sent, and so gets a proper error status.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from aiserve.engine.protocol import (
    EngineClient,
    Event,
    Finished,
    GenerationRequest,
    Message,
    Picture,
    Piece,
    SamplingParams,
    TokenLogprob,
    ToolCall,
)
from aiserve.errors import InvalidInput, ModelNotReady
from aiserve.protocol import chat as wire
from aiserve.protocol.chat import (
    AssistantMessage,
    ChatChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatMessage,
    ChatReply,
    ChatRequest,
    ChoiceLogprobs,
    ChunkChoice,
    ChunkDelta,
    ChunkFunction,
    ChunkToolCall,
    Completion,
    CompletionChoice,
    CompletionLogprobs,
    CompletionRequest,
    FunctionCall,
    ImagePart,
    SamplingFields,
    Usage,
)
from aiserve.registry.protocol import ModelEntry, ModelLookup, require_ready
from aiserve.services.base import ModelService
from aiserve.services.meter import Meter
from aiserve.services.structured import Call, CallStream, Plan, plan, read_calls, spoken
from aiserve.services.vision import Image, VisionBridge
from aiserve.settings import Settings

_ROLES = {"developer": "system"}

DESCRIBED = 128
"""Tokens an image's description may take, at most, for the worst case held back before it is seen."""

_REFUSED = {
    "audio": "answers are text only",
    "prediction": "predicted outputs are not supported",
    "web_search_options": "this server does not search the web",
    "reasoning_effort": "no model here is a reasoning model",
    "verbosity": "these models take no verbosity setting",
    "functions": "use 'tools'",
    "function_call": "use 'tool_choice'",
    "moderation": "this server does not moderate answers",
    "prompt_cache_options": "the prompt cache takes no options",
}
"""OpenAI's chat parameters this server cannot honour, refused with 400 when given, and why."""

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class _Answer:
    """A whole answer."""

    text: str
    finished: Finished
    logprobs: list[TokenLogprob]


def _logit_bias(request: SamplingFields) -> tuple[tuple[int, float], ...]:
    pairs = []
    for key, bias in (request.logit_bias or {}).items():
        if not (key.isascii() and key.isdigit()) or len(key) > 9:
            raise InvalidInput(f"'logit_bias' keys are token ids; '{key[:20]}' is not one.", param="logit_bias")
        if not -100 <= bias <= 100:
            raise InvalidInput("'logit_bias' values go from -100 to 100.", param="logit_bias")
        pairs.append((int(key), bias))
    return tuple(pairs)


def sampling(request: SamplingFields, max_tokens: int | None, settings: Settings, logprobs: int | None = None
             ) -> SamplingParams:  # fmt: skip
    """The request's sampling parameters, checked."""
    if request.n != 1:
        raise InvalidInput("'n' must be 1: this server generates one choice per request.", param="n")
    if request.stream_options is not None and not request.stream:
        raise InvalidInput("'stream_options' is only for streamed answers ('stream': true).", param="stream_options")
    stops = request.stops()
    if len(stops) > 4 or any(not s for s in stops):
        raise InvalidInput("'stop' takes up to 4 non-empty strings.", param="stop")
    return SamplingParams(
        max_tokens=max_tokens or settings.models.chat.default_max_tokens,
        temperature=request.temperature,
        top_p=request.top_p,
        seed=request.seed,
        stop=tuple(stops),
        top_k=max(request.top_k, 0),
        min_p=request.min_p,
        presence_penalty=request.presence_penalty,
        frequency_penalty=request.frequency_penalty,
        repetition_penalty=request.repetition_penalty,
        logit_bias=_logit_bias(request),
        logprobs=logprobs,
    )


def check_size(texts: list[str], entry: ModelEntry, settings: Settings, *, param: str, messages: int = 1) -> None:
    """Refuse, at once and before any templating or tokenising, a prompt that cannot fit the model's context
    window: too many messages, or more characters than the window could hold."""
    chat = settings.models.chat
    if messages > chat.max_messages:
        raise InvalidInput(f"'{param}' has {messages} messages; the limit is {chat.max_messages}.", param=param)
    window = int(entry.info.get("max_input_tokens") or 0)
    chars = sum(len(text) for text in texts)
    if window and chars > window * chat.max_chars_per_token:
        raise InvalidInput(f"The prompt has {chars} characters: more than the {window}-token context window of "
                           f"'{entry.name}' can hold.", param=param)  # fmt: skip


def refuse_unsupported(request: ChatCompletionRequest) -> None:
    """400 naming the first parameter this server cannot honour."""
    for name, why in _REFUSED.items():
        if getattr(request, name) is not None:
            raise InvalidInput(f"'{name}' is not supported: {why}.", param=name)
    if request.top_logprobs is not None and not request.logprobs:
        raise InvalidInput("'top_logprobs' needs 'logprobs': true.", param="top_logprobs")


def _message(message: ChatMessage, seen: Iterator[str], pictures: Iterator[Picture] | None) -> Message:
    calls = tuple(ToolCall(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or ())
    role = _ROLES.get(message.role, message.role)
    if pictures is None or not message.images():
        return Message(role, message.text(seen), calls, message.tool_call_id, message.name)
    texts: list[str] = []
    placed: list[Picture] = []
    for part in message.content if isinstance(message.content, list) else ():
        if isinstance(part, ImagePart):
            placed.append(replace(next(pictures), at=sum(map(len, texts))))
        else:
            texts.append(part.text)
    return Message(role, "".join(texts), calls, message.tool_call_id, message.name, tuple(placed))


def images_of(request: ChatCompletionRequest) -> list[Image]:
    """The conversation's images, in order, each with the field it came in."""
    return [
        Image(part.image_url.url, f"messages[{m}].content[{p}].image_url")
        for m, message in enumerate(request.messages)
        for p, part in enumerate(message.content if isinstance(message.content, list) else ())
        if isinstance(part, ImagePart)
    ]


def conversation(
    request: ChatCompletionRequest, seen: Sequence[str] = (), pictures: Sequence[Picture] | None = None
) -> tuple[Message, ...]:
    """The messages for the engine, each image replaced by what was `seen` in it, or given as its `pictures` to a
    model that sees for itself."""
    descriptions = iter(seen)
    shown = iter(pictures) if pictures is not None else None
    return tuple(_message(m, descriptions, shown) for m in request.messages)


def chat_generation(
    request: ChatCompletionRequest, settings: Settings, answer: Plan | None = None
) -> GenerationRequest:
    """The conversation (its images not yet seen), the tools and grammar of its answer, and its sampling
    parameters."""
    refuse_unsupported(request)
    answer = answer or plan(request)
    logprobs = (request.top_logprobs or 0) if request.logprobs else None
    params = sampling(request, request.max_completion_tokens or request.max_tokens, settings, logprobs)
    messages = conversation(request)
    param = "tools" if answer.calls else "response_format"
    return GenerationRequest(messages=messages, params=params, tools=answer.tools, grammar=answer.grammar,
                             grammar_param=param)  # fmt: skip


def text_generation(request: CompletionRequest, settings: Settings) -> GenerationRequest:
    """The prompt and its sampling parameters."""
    prompt = request.prompt
    if isinstance(prompt, list):
        if len(prompt) != 1:
            raise InvalidInput("'prompt' takes one string (or a list of exactly one).", param="prompt")
        prompt = prompt[0]
    if request.echo and request.logprobs is not None:
        raise InvalidInput("'echo' with 'logprobs' is not supported: the prompt's own log-probabilities are not "
                           "computed.", param="echo")  # fmt: skip
    return GenerationRequest(prompt=prompt, params=sampling(request, request.max_tokens, settings, request.logprobs))


def _texts_of(request: GenerationRequest) -> list[str]:
    """Everything the prompt is made of, as text."""
    texts = [request.prompt] if not request.messages else []
    for message in request.messages:
        texts.append(message.content)
        texts.extend(call.arguments for call in message.tool_calls)
    texts.extend(json.dumps(tool) for tool in request.tools)
    return texts


def worst_case(request: GenerationRequest, window: int, described: int = 0) -> int:
    """The most tokens an answer can use: a byte-level tokenizer makes at most one token per byte of the prompt
    (and of the descriptions of `described` images still to be seen), plus the chat template's markers, plus
    `max_tokens`; never more than the context window holds."""
    texts = _texts_of(request)
    most = sum(len(text.encode()) + 16 for text in texts) + 32 + request.params.max_tokens + described * DESCRIBED
    return min(most, window) if window else most


def usage(finished: Finished) -> Usage:
    """OpenAI's usage object."""
    total = finished.prompt_tokens + finished.completion_tokens
    return Usage(prompt_tokens=finished.prompt_tokens, completion_tokens=finished.completion_tokens, total_tokens=total)


def finish_reason(finished: Finished, calls: bool = False) -> str:
    """`stop`, `length` or `tool_calls`, as OpenAI names them."""
    if finished.finish_reason == "length":
        return "length"
    return "tool_calls" if calls else "stop"


def _ident(kind: str) -> tuple[str, int]:
    """A fresh id (`chatcmpl-…` or `cmpl-…`) and the creation time."""
    return f"{kind}-{uuid.uuid4().hex}", int(time.time())


def _text(token: bytes) -> str:
    return token.decode("utf-8", errors="replace")


def chat_logprobs(logprobs: list[TokenLogprob]) -> ChoiceLogprobs:
    """Log-probabilities in the chat shape."""
    return ChoiceLogprobs(content=[
        wire.TokenLogprob(token=_text(lp.token), logprob=lp.logprob, bytes=list(lp.token), top_logprobs=[
            wire.TopLogprob(token=_text(t), logprob=v, bytes=list(t)) for t, v in lp.top
        ]) for lp in logprobs
    ])  # fmt: skip


def text_logprobs(logprobs: list[TokenLogprob], offset: int = 0) -> CompletionLogprobs:
    """Log-probabilities in the legacy text-completion shape; offsets count from `offset`."""
    tokens = [_text(lp.token) for lp in logprobs]
    offsets = [offset + sum(len(t) for t in tokens[:i]) for i in range(len(tokens))]
    return CompletionLogprobs(tokens=tokens, token_logprobs=[lp.logprob for lp in logprobs],
                              top_logprobs=[{_text(t): v for t, v in lp.top} for lp in logprobs],
                              text_offset=offsets)  # fmt: skip


def _tool_calls(calls: list[Call]) -> list[wire.ToolCall]:
    return [wire.ToolCall(id=c.id, function=FunctionCall(name=c.name, arguments=c.arguments)) for c in calls]


class ChatService(ModelService):
    """`/v1/chat/completions`, `/v1/completions`, `/v1/chat` and `/v1/chat/stream`."""

    def __init__(self, models: ModelLookup, engine: EngineClient, settings: Settings) -> None:
        super().__init__(models, engine, settings)
        self._vision = VisionBridge(models, engine, settings)

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
        logprobs: list[TokenLogprob] = []
        async for event in self._events(entry, request, meter):
            if isinstance(event, Piece):
                parts.append(event.text)
                logprobs.extend(event.logprobs)
            else:
                return _Answer("".join(parts), event, logprobs)
        raise ModelNotReady("The answer ended early.")

    async def _chat(
        self, request: ChatCompletionRequest, entry: ModelEntry, meter: Meter
    ) -> tuple[GenerationRequest, Plan]:
        """The request checked and made ready for the engine; its images, if any, seen by the vision model (after
        its worst case, images included, is held back against the key's limits)."""
        meter.end_user = request.safety_identifier or request.user or ""
        answer = plan(request)
        images = images_of(request)
        self._vision.check(images)
        generation = chat_generation(request, self._settings, answer)
        check_size(_texts_of(generation), entry, self._settings, param="messages", messages=len(request.messages))
        if not images:
            return generation, answer
        window = int(entry.info.get("max_input_tokens") or 0)
        if window and generation.params.max_tokens >= window:  # known now, before any image is seen
            raise InvalidInput(f"max_tokens is {generation.params.max_tokens}: no room is left for the prompt in the "
                               f"{window}-token context window of '{entry.name}'.", param="max_tokens")  # fmt: skip
        if entry.info.get("vision"):  # the model sees for itself; an image's tokens are known once it is read
            await meter.reserve(tokens=window or worst_case(generation, window), images=len(images))
            pictures = await self._vision.pictures(images, entry, meter)
            return replace(generation, messages=conversation(request, pictures=pictures)), answer
        await meter.reserve(tokens=worst_case(generation, window, described=len(images)), images=len(images))
        seen = await self._vision.see(images, meter)
        return replace(generation, messages=conversation(request, seen.descriptions)), answer

    def _text(self, request: CompletionRequest, entry: ModelEntry, meter: Meter) -> GenerationRequest:
        meter.end_user = request.user or ""
        prompts = request.prompt if isinstance(request.prompt, list) else [request.prompt]
        check_size(prompts, entry, self._settings, param="prompt")
        return text_generation(request, self._settings)

    async def complete_chat(self, request: ChatCompletionRequest, meter: Meter) -> ChatCompletion:
        """A whole chat completion: text, or tool calls."""
        entry = self._model(request.model, meter)
        generation, answer_plan = await self._chat(request, entry, meter)
        answer = await self._whole(entry, generation, meter)
        cid, created = _ident("chatcmpl")
        calls = read_calls(answer.text) if answer_plan.calls else []
        if calls:
            message = AssistantMessage(content=None, tool_calls=_tool_calls(calls))
        else:
            message = AssistantMessage(content=spoken(answer.text) if answer_plan.calls else answer.text)
        logprobs = chat_logprobs(answer.logprobs) if request.logprobs else None
        choice = ChatChoice(index=0, message=message, finish_reason=finish_reason(answer.finished, bool(calls)),
                            logprobs=logprobs, stop_reason=answer.finished.stop_sequence)  # fmt: skip
        return ChatCompletion(id=cid, created=created, model=entry.name, choices=[choice],
                              usage=usage(answer.finished), vision_model=meter.vision_model or None)  # fmt: skip

    async def stream_chat(
        self, request: ChatCompletionRequest, meter: Meter
    ) -> AsyncGenerator[ChatCompletionChunk, None]:
        """A chat completion as chunks: the assistant's role first, a piece of text (or a whole tool call) each,
        the finish reason, then the usage when `stream_options.include_usage` asks for it."""
        entry = self._model(request.model, meter)
        generation, answer_plan = await self._chat(request, entry, meter)
        events = await _started(self._events(entry, generation, meter))
        cid, created = _ident("chatcmpl")
        reader = CallStream() if answer_plan.calls else None
        pending: list[TokenLogprob] = []

        def chunk(choices: list[ChunkChoice], answer_usage: Usage | None = None) -> ChatCompletionChunk:
            return ChatCompletionChunk(id=cid, created=created, model=entry.name, choices=choices, usage=answer_usage)

        def choice(delta: ChunkDelta, reason: str | None = None, stop: str | None = None) -> ChunkChoice:
            logprobs = chat_logprobs(pending) if request.logprobs and pending else None
            pending.clear()
            return ChunkChoice(index=0, delta=delta, finish_reason=reason, logprobs=logprobs, stop_reason=stop)

        def piece(event: Event) -> list[ChatCompletionChunk]:
            if isinstance(event, Finished):
                rest = reader.rest() if reader is not None else ""
                called = bool(reader and reader.calls)
                out = [chunk([choice(ChunkDelta(content=rest))])] if rest else []
                return [*out, chunk([choice(ChunkDelta(), finish_reason(event, called), event.stop_sequence)])]
            pending.extend(event.logprobs)
            text, calls = reader.feed(event.text) if reader is not None else (event.text, [])
            out = [chunk([choice(ChunkDelta(content=text))])] if text else []
            done = len(reader.calls) - len(calls) if reader is not None else 0
            for n, call in enumerate(calls, start=done):
                function = ChunkFunction(name=call.name, arguments=call.arguments)
                delta = ChunkDelta(tool_calls=[ChunkToolCall(index=n, id=call.id, type="function", function=function)])
                out.append(chunk([choice(delta)]))
            return out

        opening = chunk([ChunkChoice(index=0, delta=ChunkDelta(role="assistant", content=""))])
        opening.vision_model = meter.vision_model or None
        ending = (lambda f: chunk([], usage(f))) if request.wants_usage() else None
        return _chunks(events, piece, opening, ending)

    async def count(self, request: ChatCompletionRequest, meter: Meter) -> int:
        """The tokens the conversation's prompt takes on its model, chat template, tools and what the vision model
        saw in its images included, without generating."""
        entry = self._model(request.model, meter)
        generation, _ = await self._chat(request, entry, meter)
        counted = await self._engine.count_tokens(entry.spec.key, [generation])
        if counted is None:
            raise InvalidInput(f"The model '{entry.name}' cannot count tokens.", param="model")
        return counted[0]

    async def complete_text(self, request: CompletionRequest, meter: Meter) -> Completion:
        """A whole text completion."""
        entry = self._model(request.model, meter)
        generation = self._text(request, entry, meter)
        answer = await self._whole(entry, generation, meter)
        cid, created = _ident("cmpl")
        echoed = generation.prompt if request.echo else ""
        logprobs = text_logprobs(answer.logprobs, len(echoed)) if request.logprobs is not None else None
        choice = CompletionChoice(index=0, text=echoed + answer.text, finish_reason=finish_reason(answer.finished),
                                  logprobs=logprobs)  # fmt: skip
        return Completion(id=cid, created=created, model=entry.name, choices=[choice], usage=usage(answer.finished))

    async def stream_text(self, request: CompletionRequest, meter: Meter) -> AsyncGenerator[Completion, None]:
        """A text completion as chunks (the prompt first with `echo`), then the usage when asked for."""
        entry = self._model(request.model, meter)
        generation = self._text(request, entry, meter)
        events = await _started(self._events(entry, generation, meter))
        cid, created = _ident("cmpl")
        offset = [0]

        def chunk(choices: list[CompletionChoice], answer_usage: Usage | None = None) -> Completion:
            return Completion(id=cid, created=created, model=entry.name, choices=choices, usage=answer_usage)

        def piece(event: Event) -> list[Completion]:
            if isinstance(event, Finished):
                return [chunk([CompletionChoice(index=0, text="", finish_reason=finish_reason(event))])]
            logprobs = None
            if request.logprobs is not None:
                logprobs = text_logprobs(list(event.logprobs), offset[0])
            offset[0] += len(event.text)
            return [chunk([CompletionChoice(index=0, text=event.text, logprobs=logprobs)])]

        opening = chunk([CompletionChoice(index=0, text=generation.prompt)]) if request.echo else None
        ending = (lambda f: chunk([], usage(f))) if request.wants_usage() else None
        return _chunks(events, piece, opening, ending)

    async def reply(self, request: ChatRequest, meter: Meter) -> ChatReply:
        """`/v1/chat`: the whole reply to one message."""
        entry = self._model(request.model, meter)
        check_size([request.message], entry, self._settings, param="message")
        answer = await self._whole(entry, _one_message(request), meter)
        return ChatReply(model=entry.name, reply=answer.text)

    async def stream_reply(self, request: ChatRequest, meter: Meter) -> AsyncGenerator[str, None]:
        """`/v1/chat/stream`: the reply's text, piece by piece."""
        entry = self._model(request.model, meter)
        check_size([request.message], entry, self._settings, param="message")
        events = await _started(self._events(entry, _one_message(request), meter))
        return _texts(events)


def _one_message(request: ChatRequest) -> GenerationRequest:
    params = SamplingParams(max_tokens=request.max_tokens, temperature=request.temperature)
    return GenerationRequest(messages=(Message("user", request.message),), params=params)


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
    piece: Callable[[Event], list[C]],
    opening: C | None,
    ending: Callable[[Finished], C] | None,
) -> AsyncGenerator[C, None]:
    try:
        if opening is not None:
            yield opening
        async for event in events:
            for item in piece(event):
                yield item
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
