"""Typed backend options. Each backend declares the options it reads as a pydantic model (its `Options`), and checks
a model's options against it once, when the backend is built.

Options come from the built-in catalogue, from the settings (a TOML file or the environment) and from the manifest of
a model trained here, so a number may arrive as a string: it is converted. An unknown option, or a value that does not
fit, fails the model's load with one line that names the option and what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from aiserve.errors import InvalidOptions

_SHOWN = 40
"""At most this many characters of a bad value go into the message."""


class BackendOptions(BaseModel):
    """The options every backend accepts; a backend's own `Options` class adds the ones it reads."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    device: Literal["cpu", "cuda"] = "cpu"
    """Where the model runs. The registry resolves `auto` (and the server's default) before it builds the backend."""
    max_batch_size: int | None = Field(default=None, ge=1)
    """This model's batch limit, instead of the engine's `max_batch_size` (read by the registry; unset: the
    engine's)."""

    @classmethod
    def parse(cls, options: Mapping[str, Any], *, model: str = "") -> Self:
        """`options` checked and converted; `InvalidOptions` naming each bad option of `model` otherwise."""
        try:
            return cls.model_validate(dict(options))
        except ValidationError as exc:
            raise InvalidOptions(_describe(exc, cls, model)) from None


class ChatOptions(BackendOptions):
    """The options every chat backend reads."""

    context_window: int = Field(default=2048, gt=0)
    """Tokens per answer: the prompt plus `max_tokens` must fit."""
    slots: int = Field(default=0, ge=0)
    """Answers decoded together; 0 leaves it to the backend (the registry sets `models.chat.slots` when unset)."""


def batch_limit(options: Mapping[str, Any], *, model: str = "") -> int | None:
    """The model's checked `max_batch_size` option, which the registry reads before it builds the backend."""
    only = {"max_batch_size": options["max_batch_size"]} if "max_batch_size" in options else {}
    return BackendOptions.parse(only, model=model).max_batch_size


def _describe(exc: ValidationError, cls: type[BackendOptions], model: str) -> str:
    """One line: the model, then each bad option and what is wrong with it."""
    problems = "; ".join(_problem(error, cls) for error in exc.errors())
    return f"Invalid options for the model {model or '(unnamed)'}: {problems}."


def _problem(error: ErrorDetails, cls: type[BackendOptions]) -> str:
    name = ".".join(str(part) for part in error["loc"]) or "(options)"
    if error["type"] == "extra_forbidden":
        return f"unknown option '{name}' (this backend reads: {', '.join(cls.model_fields)})"
    shown = repr(error["input"])
    if len(shown) > _SHOWN:
        shown = shown[: _SHOWN - 3] + "..."
    return f"option '{name}': {error['msg']}, got {shown}"
