"""When a failed call is tried again: connection failures, timeouts, 408, 429, 503 and other 5xx, waiting what
`Retry-After` says or else an exponential backoff with jitter; never a spent quota or a wait over a minute."""

from __future__ import annotations

import random

from aiserve.client.errors import APIConnectionError, APIError, APIStatusError

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_WAIT_S = 60.0
"""By default a `Retry-After` longer than this is not waited for: the error goes to the caller at once."""
BASE_S, CAP_S = 0.5, 8.0


def retry_delay(attempt: int, error: APIError, *, max_wait: float = MAX_WAIT_S) -> float | None:
    """Seconds to wait before trying again after failed attempt number `attempt` (0-based), or None when the
    error is final (or the server asks for a wait over `max_wait`)."""
    if isinstance(error, APIStatusError):
        if error.status_code not in RETRY_STATUSES and error.status_code < 500:
            return None
        if error.code == "insufficient_quota":
            return None
        after: float | None = getattr(error, "retry_after", None)
        if after is not None:
            return after if after <= max_wait else None
    elif not isinstance(error, APIConnectionError):
        return None
    return min(CAP_S, BASE_S * 2.0**attempt) * (1 - 0.25 * random.random())  # jitter, not a secret
