"""`GET /v1/admin/state`: what the server is doing now, from its own figures (the ones `/metrics` exports)."""

from __future__ import annotations

from pydantic import BaseModel


class ModelActivity(BaseModel):
    """One registered model's work so far. Counters only grow: the rate over a period is the difference of two
    readings over the time between them."""

    model: str
    """The name clients call it by."""
    key: str
    """Its `id@version`."""
    task: str
    status: str
    """`loading`, `ready` or `failed`."""
    queue_depth: int
    """Inputs waiting to run now."""
    batches: int
    """Forward passes run so far (models batched per request; chat models decode together instead)."""
    batched_inputs: int
    """Inputs in those passes: over `batches`, the mean batch size."""
    generated_tokens: int
    """Tokens generated so far (chat models)."""
    generations: int
    """Answers generated so far (chat models)."""


class ServerState(BaseModel):
    """The server now."""

    uptime_s: float
    """Seconds since the app was built."""
    in_flight: int
    """HTTP requests being answered now, this one included."""
    requests: int
    """HTTP requests answered so far."""
    models: list[ModelActivity]
