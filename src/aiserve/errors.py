"""The domain errors of aiserve. Nothing here knows about HTTP; `aiserve.api.errors` maps them.

AiserveError
├── InvalidInput            bad input the schema could not catch (empty text, too many inputs)
│   └── PayloadTooLarge     a body or input over a configured limit
├── ModelNotFound           no such model id or alias
├── NotFound                no such user, key or other named thing
├── Conflict                the thing to create exists already
├── Forbidden               the caller's key may not do this
├── Unavailable             temporarily unable to serve; carries retry_after
│   ├── Overloaded          the model's queue is full
│   └── ModelNotReady       the model is still loading, or failed to load
├── DeadlineExceeded        the request's deadline passed before it finished
├── ModelFailed             the model raised while running a batch (a bug or a broken model)
└── ModelLoadFailed         a model could not be prepared or loaded; the message says why
"""

from __future__ import annotations


class AiserveError(Exception):
    """Base of every error aiserve raises on purpose."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class InvalidInput(AiserveError):
    """The request is well-formed but its content cannot be served."""


class PayloadTooLarge(InvalidInput):
    """The request is over a size limit."""


class ModelNotFound(AiserveError):
    """No model has this id or alias."""

    def __init__(self, model: str) -> None:
        super().__init__(f"The model '{model}' does not exist.", param="model")
        self.model = model


class NotFound(AiserveError):
    """No user, key or other thing has this name."""


class Conflict(AiserveError):
    """What the request would create exists already."""


class Forbidden(AiserveError):
    """The caller is known but may not do this."""


class Unavailable(AiserveError):
    """Temporarily unable to serve; the client should retry after `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Overloaded(Unavailable):
    """The model's queue is full."""


class ModelNotReady(Unavailable):
    """The model is loading, or failed to load."""


class DeadlineExceeded(AiserveError):
    """The request ran past its deadline."""


class ModelFailed(AiserveError):
    """The model raised while running; the message is safe to show."""


class ModelLoadFailed(AiserveError):
    """A model could not be prepared or loaded."""
