"""The one error body every endpoint returns, readable by the OpenAI SDK and plain clients."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorDetail(BaseModel):
    """OpenAI's error object."""

    message: str
    """A human-readable explanation."""
    type: str
    """Error category, e.g. `invalid_request_error`."""
    param: str | None = None
    """The request field at fault, when there is one."""
    code: str | None = None
    """A stable machine-readable code, e.g. `model_not_found`."""


class ErrorBody(BaseModel):
    """`{"error": {...}, "detail": ...}`: `error` for OpenAI clients, `detail` for FastAPI-style clients."""

    error: ErrorDetail
    """The error."""
    detail: Any = None
    """The message again, or field-level validation errors for 422."""
