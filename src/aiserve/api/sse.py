"""Server-sent events: `data: ...` frames and the streaming response that carries them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.responses import StreamingResponse

DONE = b"data: [DONE]\n\n"


def json_event(data: Any) -> bytes:
    """One event carrying JSON."""
    return b"data: " + orjson.dumps(data) + b"\n\n"


def text_event(text: str) -> bytes:
    """One event carrying raw text. A reader strips one space after `data:`, so the text's own leading space
    survives; a newline becomes a second `data:` line, which readers join back with a newline."""
    return "".join(f"data: {line}\n" for line in text.split("\n")).encode() + b"\n"


def event_stream(body: AsyncIterator[bytes]) -> StreamingResponse:
    """A `text/event-stream` response that proxies do not buffer."""
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)
