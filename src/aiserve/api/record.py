"""The one per-request record: who is calling, under which route policy, on which model, what the answer used and
where its time went. The outermost middleware creates it; routes and middlewares read and fill it through
`record_of` (or the `RecordDep` dependency); the ledger, the access log and the metrics take it whole at the end.
Nothing else about a request is kept in its scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.types import Scope

from aiserve.api.policy import RoutePolicy
from aiserve.auth.principal import Principal

_SCOPE_KEY = "aiserve.record"


@dataclass(slots=True)
class RequestRecord:
    """What is known about one request, filled in as it goes."""

    request_id: str
    method: str
    route: str
    """The matched route's template (`/v1/models/{model}`), or `unmatched`; never the raw path."""
    policy: RoutePolicy
    client: str | None = None
    principal: Principal | None = None
    model: str = ""
    """The `id@version` that served it, once known."""
    input_tokens: int = 0
    output_tokens: int = 0
    images: int = 0
    """Images classified (bad ones in a batch do not count), or seen by the vision model for a chat model."""
    vision_model: str = ""
    """The `id@version` of the vision model that saw a chat request's images."""
    end_user: str = ""
    """The end user the caller named in the body (`user`, `safety_identifier`)."""
    queue_s: float | None = None
    inference_s: float | None = None
    status: int = 500
    latency_s: float = 0.0
    reserver: Callable[[int, int], Awaitable[None]] | None = None
    """Set by the rate limiter when the key has token limits: holds back a worst case against them."""

    @property
    def owner(self) -> str:
        """Whose request it is, for the engine's fair turns: the key, or the client's address without keys."""
        if self.principal is not None:
            return f"key:{self.principal.key_id}"
        return f"address:{self.client or ''}"

    @property
    def reserving(self) -> bool:
        """Whether the key has token limits to reserve on."""
        return self.reserver is not None

    async def reserve(self, *, tokens: int = 0, images: int = 0) -> None:
        """Hold back this request's worst case against its key's token limits (`RateLimited` when it does not
        fit); nothing to do for a key without token limits."""
        if self.reserver is not None:
            await self.reserver(tokens, images)

    def timed(self, queue_s: float, inference_s: float) -> None:
        """Note how long the request waited for its batch and how long the batch ran."""
        self.queue_s, self.inference_s = queue_s, inference_s

    def timing_headers(self) -> dict[str, str]:
        """`x-queue-time` and `x-inference-time` (ms), once a model has run, and `x-vision-model` when one saw the
        request's images."""
        headers = {"x-vision-model": self.vision_model} if self.vision_model else {}
        if self.queue_s is not None and self.inference_s is not None:
            headers["x-queue-time"] = f"{self.queue_s * 1000:.2f}"
            headers["x-inference-time"] = f"{self.inference_s * 1000:.2f}"
        return headers

    def attach(self, scope: Scope) -> RequestRecord:
        """Keep this record in the request's scope."""
        scope[_SCOPE_KEY] = self
        return self


def record_of(scope: Scope) -> RequestRecord:
    """The record of the request that `scope` belongs to."""
    record: RequestRecord = scope[_SCOPE_KEY]
    return record
