"""The domain errors of aiserve. Nothing here knows about HTTP; `aiserve.api.errors` maps them to statuses.

Each error carries a stable machine-readable `code` (the `code` of the OpenAI error object), the request field at
fault (`param`) when there is one, and `retry_after` seconds when trying again later can succeed.

AiserveError
├── InvalidInput            bad input the schema could not catch (empty text, too many inputs)
│   ├── InvalidJson         a body that is not JSON (or not UTF-8)
│   ├── SchemaViolation     a body that does not match the route's schema; `errors` lists each field
│   │   └── InvalidParameter  the same on a route that answers as OpenAI does (400, not 422)
│   └── PayloadTooLarge     a body or input over a configured limit
├── Unauthenticated         no API key, or one that is wrong, revoked or expired
├── Forbidden               the caller's key may not do this
├── ModelNotFound           no such model id or alias
├── NotFound                no such user, key, route or other named thing
├── MethodNotAllowed        the route exists but not with this method
├── Conflict                the thing to create exists already
├── RateLimited             a key's rate limit is spent for now; carries retry_after and the limit's name
│   └── QuotaExceeded       a key's monthly quota is spent
├── Unavailable             temporarily unable to serve; carries retry_after
│   ├── Overloaded          the model's queue is full
│   ├── ModelNotReady       the model is still loading, or failed to load
│   └── ShuttingDown        the server is draining to stop
├── DeadlineExceeded        the request's deadline passed before it finished
├── ClientDisconnected      the client left before its answer was ready
├── ModelFailed             the model raised while running a batch (a bug or a broken model)
└── ModelLoadFailed         a model could not be prepared or loaded; the message says why
    └── InvalidOptions      a model's options do not fit its backend (unknown name, wrong type or range)
"""

from __future__ import annotations

from typing import Any, ClassVar


class AiserveError(Exception):
    """Base of every error aiserve raises on purpose."""

    code: ClassVar[str] = "internal_error"
    """The stable machine-readable code of this kind of error."""

    def __init__(self, message: str, *, param: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.retry_after = retry_after
        """Seconds after which the same request may succeed; None when it never will as it stands."""


class InvalidInput(AiserveError):
    """The request is well-formed but its content cannot be served."""

    code = "invalid_input"


class InvalidJson(InvalidInput):
    """The body cannot be read as JSON."""

    code = "invalid_json"

    def __init__(self, message: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class SchemaViolation(InvalidInput):
    """The body does not match the route's schema; `errors` lists each field at fault (pydantic's shape)."""

    code = "validation_error"

    def __init__(self, message: str, *, param: str | None, errors: list[dict[str, Any]]) -> None:
        super().__init__(message, param=param)
        self.errors = errors


class InvalidParameter(SchemaViolation):
    """A body outside the schema of a route that follows OpenAI's conventions, which answers such a body with 400."""

    code = "invalid_parameter"


class PayloadTooLarge(InvalidInput):
    """The request is over a size limit."""

    code = "payload_too_large"


class Unauthenticated(AiserveError):
    """No valid API key came with the request."""

    code = "invalid_api_key"


class Forbidden(AiserveError):
    """The caller is known but may not do this."""

    code = "insufficient_scope"


class ModelNotFound(AiserveError):
    """No model has this id or alias."""

    code = "model_not_found"

    def __init__(self, model: str) -> None:
        super().__init__(f"The model '{model}' does not exist.", param="model")
        self.model = model


class NotFound(AiserveError):
    """No user, key, route or other thing has this name."""

    code = "not_found"


class MethodNotAllowed(AiserveError):
    """The route exists, but not with this method."""

    code = "method_not_allowed"


class Conflict(AiserveError):
    """What the request would create exists already."""

    code = "conflict"


class RateLimited(AiserveError):
    """A rate limit of the caller's key is spent; `limit` names it (`requests`, `tokens`, `concurrent`)."""

    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, limit: str, retry_after: float) -> None:
        super().__init__(message, retry_after=retry_after)
        self.limit = limit


class QuotaExceeded(RateLimited):
    """A monthly quota of the caller's key is spent."""

    code = "insufficient_quota"


class Unavailable(AiserveError):
    """Temporarily unable to serve; the client should retry after `retry_after` seconds."""

    code = "unavailable"
    retry_after: float

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message, retry_after=retry_after)


class Overloaded(Unavailable):
    """The model's queue is full."""

    code = "overloaded"


class ModelNotReady(Unavailable):
    """The model is loading, or failed to load."""

    code = "model_not_ready"


class ShuttingDown(Unavailable):
    """The server is draining to stop; another replica will answer."""

    code = "shutting_down"


class DeadlineExceeded(AiserveError):
    """The request ran past its deadline."""

    code = "deadline_exceeded"


class ClientDisconnected(AiserveError):
    """The client closed the connection before the answer was ready."""

    code = "cancelled"

    def __init__(self, message: str = "The client closed the connection.") -> None:
        super().__init__(message)


class ModelFailed(AiserveError):
    """The model raised while running; the message is safe to show."""

    code = "model_failed"


class ModelLoadFailed(AiserveError):
    """A model could not be prepared or loaded."""

    code = "model_load_failed"


class InvalidOptions(ModelLoadFailed):
    """A model's options do not fit its backend: an unknown name, or a value of the wrong type or range."""

    code = "invalid_model_options"
