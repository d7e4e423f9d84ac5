"""The one table that turns domain errors into HTTP responses, and the handlers that use it."""

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

from aiserve.api.cancellation import ClientDisconnected
from aiserve.errors import (
    AiserveError,
    Conflict,
    DeadlineExceeded,
    Forbidden,
    InvalidInput,
    ModelFailed,
    ModelLoadFailed,
    ModelNotFound,
    ModelNotReady,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    Unavailable,
)
from aiserve.protocol.errors import ErrorBody

log = logging.getLogger(__name__)

# domain error -> (status, OpenAI error type, code). First match wins, so subclasses come first.
ERROR_TABLE: tuple[tuple[type[AiserveError], int, str, str], ...] = (
    (PayloadTooLarge, 413, "invalid_request_error", "payload_too_large"),
    (InvalidInput, 400, "invalid_request_error", "invalid_input"),
    (ModelNotFound, 404, "invalid_request_error", "model_not_found"),
    (NotFound, 404, "invalid_request_error", "not_found"),
    (Conflict, 409, "invalid_request_error", "conflict"),
    (Forbidden, 403, "permission_error", "insufficient_scope"),
    (Overloaded, 503, "server_overloaded", "overloaded"),
    (ModelNotReady, 503, "service_unavailable", "model_not_ready"),
    (Unavailable, 503, "service_unavailable", "unavailable"),
    (DeadlineExceeded, 504, "timeout_error", "deadline_exceeded"),
    (ModelFailed, 500, "server_error", "model_failed"),
    (ModelLoadFailed, 500, "server_error", "model_load_failed"),
)

# documented on every /v1 operation, so the OpenAPI schema shows the one error body
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (400, "Bad input: malformed JSON or content the model cannot take."),
        (404, "Unknown model or route."),
        (413, "Request body or input count over the limit."),
        (422, "Schema violation; `detail` lists each field at fault."),
        (503, "Queue full or models loading; retry after `Retry-After` seconds."),
        (504, "The request's deadline passed."),
    )
}

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def error_response(
    status: int,
    message: str,
    *,
    type_: str,
    code: str | None,
    param: str | None = None,
    detail: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The error envelope `{"error": {message, type, param, code}, "detail": ...}`."""
    body = {
        "error": {"message": message, "type": type_, "param": param, "code": code},
        "detail": message if detail is None else detail,
    }
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _lookup(exc: AiserveError) -> tuple[int, str, str]:
    for cls, status, type_, code in ERROR_TABLE:
        if isinstance(exc, cls):
            return status, type_, code
    return 500, "server_error", "internal_error"


def domain_error_response(exc: AiserveError) -> Response:
    """Map a domain error through the table."""
    status, type_, code = _lookup(exc)
    headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))} if isinstance(exc, Unavailable) else None
    return error_response(status, exc.message, type_=type_, code=code, param=exc.param, headers=headers)


def error_event(exc: AiserveError) -> dict[str, Any]:
    """The error object for an error that happens after a stream has started."""
    _, type_, code = _lookup(exc)
    return {"error": {"message": exc.message, "type": type_, "param": exc.param, "code": code}}


async def _on_domain_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, AiserveError)
    return domain_error_response(exc)


async def _on_validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = jsonable_encoder(exc.errors())
    first: dict[str, Any] = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    loc = [str(part) for part in first.get("loc", []) if part != "body"]
    if first.get("type") == "json_invalid":
        message = f"The request body is not valid JSON: {first.get('ctx', {}).get('error', first['msg'])}."
        return error_response(400, message, type_="invalid_request_error", code="invalid_json", detail=errors)
    where = ".".join(loc) or "body"
    return error_response(
        422,
        f"{where}: {first['msg']}",
        type_="invalid_request_error",
        code="validation_error",
        param=where,
        detail=errors,
    )


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.__cause__, AiserveError):  # e.g. the body limit, tripped while FastAPI read the body
        return domain_error_response(exc.__cause__)
    message = str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"No route {request.method} {request.url.path}. The API is listed at /docs."
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}."
    code = _HTTP_CODES.get(exc.status_code)
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, message, type_="invalid_request_error", code=code, headers=headers)


async def _on_disconnect(_: Request, __: Exception) -> Response:
    # Nobody reads this answer; 499 (nginx's "client closed request") keeps the logs and metrics honest.
    return error_response(499, "The client closed the connection.", type_="invalid_request_error", code="cancelled")


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "Internal server error.", type_="server_error", code="internal_error")


def install_error_handlers(app: FastAPI) -> None:
    """Route every error, expected or not, through the envelope."""
    app.add_exception_handler(AiserveError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(ClientDisconnected, _on_disconnect)
    app.add_exception_handler(Exception, _on_unexpected)
