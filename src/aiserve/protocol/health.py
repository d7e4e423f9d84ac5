"""The public probes: `/`, `/health` and `/ready`, and the `/v1/hello` greeting."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Welcome(BaseModel):
    """`GET /`: the server is up."""

    message: str
    """A greeting."""
    version: str
    """The server's version."""
    docs: str
    """Where the API is described."""


class Liveness(BaseModel):
    """`GET /health`: the process answers."""

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """`GET /ready`: every model enabled at start is loaded and warmed."""

    status: Literal["ready"] = "ready"
    models: dict[str, str]
    """Each model's name and state."""


class Greeting(BaseModel):
    """`GET /v1/hello`."""

    message: str
    """A fixed greeting."""
