"""Chat and text completions: check the request, generate on the engine, shape OpenAI's answers."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from aiserve.engine.generation import Event, Finished, GenerationRequest, Piece, SamplingParams
from aiserve.engine.protocol import EngineClient
from aiserve.errors import InvalidInput, ModelNotReady
from aiserve.protocol.chat import ChatCompletionRequest, CompletionRequest, SamplingFields
from aiserve.registry.registry import ModelEntry, ModelRegistry, ModelState
from aiserve.settings import Settings

_ROLES = {"developer": "system"}


def chat_model(registry: ModelRegistry, name: str | None) -> ModelEntry:
    """The chat model named, or the server's default one; it must be ready."""
    entry = registry.default_for("chat") if name is None else registry.resolve(name)
    if entry.spec.task != "chat":
        raise InvalidInput(f"'{name}' is a {entry.spec.task} model, not a chat model.", param="model")
    if entry.state is not ModelState.READY:
        raise ModelNotReady(f"The model '{entry.name}' is {entry.state.value}.", retry_after=2.0)
    return entry


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


@dataclass
class Answer:
    """A finished answer, for non-streaming responses."""

    text: str
    finished: Finished


async def first_event(events: AsyncGenerator[Event, None]) -> Event:
    """The first event: raises before any byte is sent when the request fails early (bad prompt, full queue)."""
    return await anext(events)


async def collect(events: AsyncGenerator[Event, None]) -> Answer:
    """Gather a whole answer."""
    parts: list[str] = []
    async for event in events:
        if isinstance(event, Piece):
            parts.append(event.text)
        else:
            return Answer("".join(parts), event)
    raise ModelNotReady("The answer ended early.")


def generate(
    engine: EngineClient, entry: ModelEntry, request: GenerationRequest, settings: Settings
) -> AsyncGenerator[Event, None]:
    """The engine's event stream for `request` on `entry`."""
    return engine.stream(entry.spec.key, request, timeout_s=settings.server.request_timeout_s)


def completion_id(kind: str) -> tuple[str, int]:
    """A fresh id (`chatcmpl-…` or `cmpl-…`) and the creation time."""
    return f"{kind}-{uuid.uuid4().hex}", int(time.time())


def usage(finished: Finished) -> dict[str, Any]:
    """OpenAI's usage object."""
    return {
        "prompt_tokens": finished.prompt_tokens,
        "completion_tokens": finished.completion_tokens,
        "total_tokens": finished.prompt_tokens + finished.completion_tokens,
    }


def finish_reason(finished: Finished) -> str:
    """`stop` or `length`, as OpenAI names them."""
    return "length" if finished.finish_reason == "length" else "stop"
