"""The one table that turns domain errors into HTTP responses, and the handlers that use it.

Every error answer, from a route, a middleware or the framework itself (unknown route, wrong method, a body that
is not JSON or does not match the schema), is a domain error from `aiserve.errors` rendered by `error_response`:
the status and OpenAI error type come from `ERROR_TABLE`, the code, message and field from the error, and
`Retry-After` from the error's `retry_after`.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from aiserve.api.policy import Api
from aiserve.api.record import record_of
from aiserve.errors import (
    AiserveError,
    ClientDisconnected,
    Conflict,
    DeadlineExceeded,
    Forbidden,
    InvalidInput,
    InvalidJson,
    InvalidOptions,
    InvalidParameter,
    MethodNotAllowed,
    ModelFailed,
    ModelLoadFailed,
    ModelNotFound,
    ModelNotReady,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    QuotaExceeded,
    RateLimited,
    SchemaViolation,
    ShuttingDown,
    Unauthenticated,
    Unavailable,
)
from aiserve.protocol.errors import ErrorBody

log = logging.getLogger(__name__)

ERROR_TABLE: tuple[tuple[type[AiserveError], int, str], ...] = (
    (InvalidParameter, 400, "invalid_request_error"),
    (SchemaViolation, 422, "invalid_request_error"),
    (InvalidJson, 400, "invalid_request_error"),
    (PayloadTooLarge, 413, "invalid_request_error"),
    (InvalidInput, 400, "invalid_request_error"),
    (Unauthenticated, 401, "invalid_request_error"),
    (Forbidden, 403, "permission_error"),
    (ModelNotFound, 404, "invalid_request_error"),
    (NotFound, 404, "invalid_request_error"),
    (MethodNotAllowed, 405, "invalid_request_error"),
    (Conflict, 409, "invalid_request_error"),
    (QuotaExceeded, 429, "insufficient_quota"),
    (RateLimited, 429, "requests"),  # the type names the limit: `requests`, `tokens` or `concurrent`, as OpenAI's
    (ClientDisconnected, 499, "invalid_request_error"),  # nginx's "client closed request": nobody reads it
    (Overloaded, 503, "server_overloaded"),
    (ModelNotReady, 503, "service_unavailable"),
    (ShuttingDown, 503, "service_unavailable"),
    (Unavailable, 503, "service_unavailable"),
    (DeadlineExceeded, 504, "timeout_error"),
    (ModelFailed, 500, "server_error"),
    (InvalidOptions, 500, "server_error"),
    (ModelLoadFailed, 500, "server_error"),
)
"""Domain error → (status, OpenAI error type). First match wins, so subclasses come first; anything else is 500."""

_EXTRA_HEADERS: dict[type[AiserveError], dict[str, str]] = {Unauthenticated: {"WWW-Authenticate": "Bearer"}}

# documented on every operation that takes a key, so the OpenAPI schema shows the one error body
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (400, "Bad input: malformed JSON or content the model cannot take."),
        (401, "No valid API key."),
        (403, "The key lacks the scope this route needs."),
        (404, "Unknown model or route."),
        (413, "Request body or input count over the limit."),
        (422, "Schema violation; `detail` lists each field at fault."),
        (429, "A rate limit or quota of the key is spent; retry after `Retry-After` seconds."),
        (503, "Queue full or models loading; retry after `Retry-After` seconds."),
        (504, "The request's deadline passed."),
    )
}


def status_and_type(exc: AiserveError) -> tuple[int, str]:
    """The HTTP status and OpenAI error type of a domain error."""
    for cls, status, type_ in ERROR_TABLE:
        if isinstance(exc, cls):
            if isinstance(exc, RateLimited) and not isinstance(exc, QuotaExceeded):
                return status, exc.limit
            return status, type_
    return 500, "server_error"


ANTHROPIC_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
}
"""HTTP status → Anthropic's error type, for the routes that follow Anthropic's conventions."""


def error_object(exc: AiserveError, api: Api = "openai") -> dict[str, Any]:
    """The error object for `exc` in the route's API family (OpenAI's unless it is `anthropic`); also what a stream
    sends when it fails after its first byte."""
    status, type_ = status_and_type(exc)
    if api == "anthropic":
        kind = ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": exc.message}}
    return {"error": {"message": exc.message, "type": type_, "param": exc.param, "code": exc.code}}


def error_response(exc: AiserveError, *, headers: dict[str, str] | None = None, api: Api = "openai") -> Response:
    """The envelope `{"error": {message, type, param, code}, "detail": ...}` for `exc` (Anthropic's
    `{"type": "error", "error": {type, message}}` on its routes), with `Retry-After` when it carries one; `headers`
    adds others (rate-limit state, `Connection: close`)."""
    status, _ = status_and_type(exc)
    body = error_object(exc, api)
    if api != "anthropic":
        body["detail"] = getattr(exc, "errors", None) or exc.message
    extra = dict(_EXTRA_HEADERS.get(type(exc), {}))
    if exc.retry_after is not None:
        extra["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    if headers:
        extra.update(headers)
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=extra or None)


def from_validation(errors: list[dict[str, Any]], *, api: Api = "aiserve") -> InvalidInput:
    """A request body that FastAPI or pydantic refused, as the domain error that says why (`InvalidParameter`, a
    400, on a route that answers as OpenAI or Anthropic do). A field the schema does not know is named as
    unsupported. Of several errors the deepest is named: where a value may take several shapes (a string or a list
    of parts), the shape it came closest to says best what is wrong."""
    first: dict[str, Any] = max(errors, key=lambda e: len(e.get("loc", ()))) if errors else {"loc": [], "msg": ""}
    if any(error.get("type") == "json_invalid" for error in errors):
        first = next(error for error in errors if error.get("type") == "json_invalid")
    if first.get("type") == "json_invalid":
        reason = first.get("ctx", {}).get("error", first["msg"])
        return InvalidJson(f"The request body is not valid JSON: {reason}.", errors=errors)
    where = ".".join(str(part) for part in first.get("loc", []) if part != "body" and not _shape(part)) or "body"
    reason = "not a field this server knows (it refuses what it would otherwise ignore)"
    message = f"{where}: {reason if first.get('type') == 'extra_forbidden' else first['msg']}"
    return (SchemaViolation if api == "aiserve" else InvalidParameter)(message, param=where, errors=errors)


_SHAPES = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


def _shape(part: object) -> bool:
    """Whether a part of a pydantic error's location names the shape it tried (`list[...]`, `tagged-union[...]`,
    `str`) rather than a field or an index: the field named to the client leaves those out."""
    return isinstance(part, str) and ("[" in part or part in _SHAPES)


def from_http(request: Request, exc: StarletteHTTPException) -> AiserveError:
    """A framework HTTP error (no route, wrong method, unreadable body) as a domain error."""
    if isinstance(exc.__cause__, AiserveError):  # e.g. the body limit, tripped while FastAPI read the body
        return exc.__cause__
    if exc.status_code == 404:
        return NotFound(f"No route {request.method} {request.url.path}. The API is listed at /docs.")
    if exc.status_code == 405:
        return MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}.")
    if exc.status_code == 413:
        return PayloadTooLarge(str(exc.detail))
    if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
        return InvalidJson("The request body cannot be read: send JSON encoded as UTF-8.")
    return InvalidInput(str(exc.detail))


def _api(request: Request) -> Api:
    return record_of(request.scope).policy.api


async def _on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AiserveError)
    return error_response(exc, api=_api(request))


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # the client's own input is not echoed back: it may be huge, or bytes that are not text
    errors = [{k: v for k, v in error.items() if k != "input"} for error in exc.errors()]
    api = _api(request)
    return error_response(from_validation(jsonable_encoder(errors), api=api), api=api)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return error_response(from_http(request, exc), headers=headers, api=_api(request))


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(AiserveError("Internal server error."), api=_api(request))


def install_error_handlers(app: FastAPI) -> None:
    """Route every error, expected or not, through the table."""
    app.add_exception_handler(AiserveError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
