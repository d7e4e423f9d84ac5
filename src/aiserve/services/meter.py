"""What a service reports about the request it serves: the model that served it, what the answer used, and where
its time went. The transport's request record is one; the ledger, limits and logs read it afterwards."""

from __future__ import annotations

from typing import Protocol


class Meter(Protocol):
    """Filled in by a service as it serves one request."""

    model: str
    """The `id@version` that served it."""
    input_tokens: int
    output_tokens: int
    images: int
    """Images classified (or seen by the vision model for a chat model)."""
    vision_model: str
    """The `id@version` of the vision model that saw a chat request's images, if any did."""
    end_user: str
    """The end user the caller named (`user`, `safety_identifier`), for the access log."""

    @property
    def owner(self) -> str:
        """Whose request it is (an API key, or a client address without keys): the engine's fair turns and queue
        shares go by it."""
        ...

    @property
    def reserving(self) -> bool:
        """Whether the caller has token limits, so a reservation is wanted (counting tokens costs a little)."""
        ...

    async def reserve(self, *, tokens: int = 0, images: int = 0) -> None:
        """Before running, hold back the request's worst case (`tokens`, `images`) against the caller's token limits,
        so requests running at the same time cannot together pass them. Raises `RateLimited` or `QuotaExceeded`
        when it does not fit."""
        ...

    def timed(self, queue_s: float, inference_s: float) -> None:
        """Note how long the request waited for its batch and how long the batch ran."""
        ...
