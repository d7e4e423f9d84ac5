"""Server-sent events: the `data: ...` frames."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel

DONE = b"data: [DONE]\n\n"


def json_event(data: Any) -> bytes:
    """One event carrying JSON."""
    return b"data: " + orjson.dumps(data) + b"\n\n"


def model_event(model: BaseModel) -> bytes:
    """One event carrying a protocol model, serialised by its own schema."""
    return b"data: " + model.model_dump_json().encode() + b"\n\n"


def text_event(text: str) -> bytes:
    """One event carrying raw text. A reader strips one space after `data:`, so the text's own leading space
    survives; a newline becomes a second `data:` line, which readers join back with a newline."""
    return "".join(f"data: {line}\n" for line in text.split("\n")).encode() + b"\n"


def named_event(name: str, data: Any) -> bytes:
    """One event with a name (`event: <name>`) carrying JSON or a protocol model, as the Responses and Messages
    APIs stream them."""
    body = data.model_dump_json().encode() if isinstance(data, BaseModel) else orjson.dumps(data)
    return b"event: " + name.encode() + b"\ndata: " + body + b"\n\n"
