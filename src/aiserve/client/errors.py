"""The SDK's exceptions, one class per kind of failure, all raised from `error_for` (and the transport wrappers)
so every call fails the same way."""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    """Anything that went wrong talking to the server."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class APIConnectionError(APIError):
    """The server could not be reached, or the connection broke (for instance in the middle of a stream)."""


class APITimeoutError(APIConnectionError):
    """No answer within the client's timeout, or the server's own deadline passed (504)."""


class APIStatusError(APIError):
    """The server answered with an error status; `code`, `type` and `param` come from its error body."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        type_: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.type = type_
        self.param = param
        self.request_id = request_id
        self.body = body


class BadRequestError(APIStatusError):
    """400, 413 or 422: the request itself is wrong; the message says how."""


class AuthenticationError(APIStatusError):
    """401: no key, or a wrong, revoked or expired one."""


class PermissionDeniedError(APIStatusError):
    """403: the key lacks the scope this call needs."""


class NotFoundError(APIStatusError):
    """404: no such model, key, user or route."""


class ConflictError(APIStatusError):
    """409: it exists already."""


class RateLimitError(APIStatusError):
    """429: a rate limit (`code` `rate_limit_exceeded`) or a spent quota (`insufficient_quota`)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after
        """Seconds until the request would be admitted, from `Retry-After`."""


class OverloadedError(APIStatusError):
    """503: the server is busy or still loading its models; try again after `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class InternalServerError(APIStatusError):
    """500 and other 5xx: the server failed."""


class LengthFinishReasonError(APIError):
    """`parse`: the answer ran out of tokens (`finish_reason: length`) before its JSON was complete; give it more
    `max_tokens`."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: BadRequestError,
    422: BadRequestError,
}


def retry_after(headers: Any) -> float | None:
    """`Retry-After` in seconds, if the server sent one."""
    value = headers.get("retry-after")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


def error_for(status: int, body: Any, headers: Any) -> APIError:
    """The exception for an error answer: its class from the status, its message and code from the body."""
    found = body.get("error") if isinstance(body, dict) else None
    detail: dict[str, Any] = found if isinstance(found, dict) else {}
    message = detail.get("message") or f"The server answered {status}."
    kw: dict[str, Any] = {"status_code": status, "code": detail.get("code"), "type_": detail.get("type"),
                          "param": detail.get("param"), "request_id": headers.get("x-request-id"),
                          "body": body}  # fmt: skip
    if status == 504:
        return APITimeoutError(message)
    if status == 429:
        return RateLimitError(message, retry_after=retry_after(headers), **kw)
    if status == 503:
        return OverloadedError(message, retry_after=retry_after(headers), **kw)
    cls = _BY_STATUS.get(status, InternalServerError if status >= 500 else APIStatusError)
    return cls(message, **kw)


# the status an error has when it arrives inside a stream that had already started with 200
_STATUS_OF_TYPE = {"timeout_error": 504, "server_overloaded": 503, "service_unavailable": 503,
                   "invalid_request_error": 400, "permission_error": 403}  # fmt: skip


def stream_error(body: dict[str, Any]) -> APIError:
    """The exception for an error event in the middle of a stream."""
    return error_for(_STATUS_OF_TYPE.get(body["error"].get("type"), 500), body, {})
