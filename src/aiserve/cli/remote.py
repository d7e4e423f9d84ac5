"""Calling a running server from the CLI: an SDK client pointed at it (`--url`, else `AISERVE_BASE_URL`, else the
settings' host and port) and the SDK's failures told in one friendly line."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from aiserve.cli.options import settings_from

CLI_MAX_WAIT_S = 5.0
"""A command waits out a short `Retry-After` (a busy server); a longer one (a spent limit) ends it with the wait."""

if TYPE_CHECKING:
    from aiserve.client import APIError, Client


def client_for(url: str | None, api_key: str | None, config: Path | None, *, timeout: float | None = None) -> Client:
    """A client for the server the flags, the environment or the settings name."""
    from aiserve.client import Client
    from aiserve.client.config import ClientSettings

    if url is None and "base_url" not in ClientSettings().model_fields_set:
        settings = settings_from(config)
        url = f"http://{settings.server.host}:{settings.server.port}"
    return Client(base_url=url, api_key=api_key, timeout=timeout, max_retry_wait=CLI_MAX_WAIT_S)


def explain(exc: APIError) -> str:
    """What went wrong, in one line a person can act on."""
    from aiserve.client import APIConnectionError, APITimeoutError, AuthenticationError, OverloadedError, RateLimitError

    if isinstance(exc, APIConnectionError) and not isinstance(exc, APITimeoutError):
        return exc.message if "stream ended" in exc.message else f"{exc.message} Is `aiserve serve` running?"
    if isinstance(exc, AuthenticationError):
        return f"{exc.message}: pass --api-key or set AISERVE_API_KEY."
    wait = exc.retry_after if isinstance(exc, RateLimitError | OverloadedError) else None
    if wait is not None and "Try again in" not in exc.message:
        return f"{exc.message} Try again in {math.ceil(wait)} s."
    return exc.message
