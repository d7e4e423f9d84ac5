"""Successful answers: a protocol model as JSON, or a stream of them as server-sent events, with the timing
headers of the request's record."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel
from starlette.responses import Response, StreamingResponse

from aiserve.api.errors import error_object
from aiserve.api.record import RequestRecord
from aiserve.api.sse import DONE, json_event, model_event, named_event, text_event
from aiserve.errors import AiserveError

T = TypeVar("T")

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
"""A `text/event-stream` that proxies do not buffer."""


def model_response(model: BaseModel, record: RequestRecord, *, status_code: int = 200) -> Response:
    """`model` as JSON, serialised once by its own schema (no second validation), with `x-queue-time` and
    `x-inference-time` when a model ran."""
    return Response(model.model_dump_json().encode(), status_code=status_code, media_type="application/json",
                    headers=record.timing_headers() or None)  # fmt: skip


def array_response(model: BaseModel, record: RequestRecord) -> Response:
    """Like `model_response`, for a model built without validation that carries numpy arrays where its schema says
    lists of floats (embeddings): orjson writes them straight from numpy. Only for models whose fields need no
    serializer of their own."""
    body = orjson.dumps(model, default=_fields, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, media_type="application/json", headers=record.timing_headers() or None)


def _fields(value: object) -> dict[str, object]:
    if isinstance(value, BaseModel):
        return value.__dict__
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def model_stream(chunks: AsyncGenerator[BaseModel, None], record: RequestRecord | None = None) -> StreamingResponse:
    """One `data: <json>` event per chunk, then `data: [DONE]`; a failure after the first byte becomes an error
    event (the status is sent already). The record's headers known when it starts (`x-vision-model`) go with it."""
    headers = {**STREAM_HEADERS, **(record.timing_headers() if record else {})}
    return StreamingResponse(_events(chunks, model_event), media_type="text/event-stream", headers=headers)


def text_stream(pieces: AsyncGenerator[str, None]) -> StreamingResponse:
    """One `data: <text>` event per piece, then `data: [DONE]`."""
    return StreamingResponse(_events(pieces, text_event), media_type="text/event-stream", headers=STREAM_HEADERS)


async def _events(items: AsyncGenerator[T, None], event: Callable[[T], bytes]) -> AsyncIterator[bytes]:
    try:
        async for item in items:
            yield event(item)
    except AiserveError as exc:
        yield json_event(error_object(exc))
    finally:
        await items.aclose()  # a client that left stops the model within one token
    yield DONE


NamedEvent = tuple[str, Any]
"""An event's name and its data (JSON or a protocol model)."""


def event_stream(
    events: AsyncGenerator[NamedEvent, None], failed: Callable[[AiserveError], NamedEvent], record: RequestRecord
) -> StreamingResponse:
    """Named events (`event: <name>` then `data: <json>`), without `[DONE]`; a failure after the first byte becomes
    the event `failed` makes of it."""

    async def frames() -> AsyncIterator[bytes]:
        try:
            async for name, data in events:
                yield named_event(name, data)
        except AiserveError as exc:
            yield named_event(*failed(exc))
        finally:
            await events.aclose()

    headers = {**STREAM_HEADERS, **record.timing_headers()}
    return StreamingResponse(frames(), media_type="text/event-stream", headers=headers)
