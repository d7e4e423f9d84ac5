"""llguidance's calls on client input, made safe: a Rust panic inside it arrives as pyo3's `PanicException`, a
`BaseException` that would pass every `except Exception` (seen: a schema whose error message llguidance cut inside
a character). Here it becomes the `InvalidInput` any other refusal is."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aiserve.errors import InvalidInput


def panicked(exc: BaseException) -> bool:
    """Whether `exc` is a Rust panic that crossed into Python."""
    return type(exc).__name__ == "PanicException"


@contextmanager
def refusing(param: str, what: str) -> Iterator[None]:
    """Turn any failure of the llguidance calls inside, a panic included, into a 400 naming `param`."""
    try:
        yield
    except InvalidInput:
        raise
    except BaseException as exc:
        if not (isinstance(exc, Exception) or panicked(exc)):
            raise
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
        raise InvalidInput(f"'{param}' {what}: {reason}", param=param) from None
