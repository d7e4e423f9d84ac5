"""Calling a running server from the CLI: one place that finds it, sends the key, and turns failures into one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiserve.cli.options import settings_from
from aiserve.errors import AiserveError


def call(
    method: str, path: str, *, url: str | None, api_key: str | None, config: Path | None, timeout: float = 30, **kw: Any
) -> dict[str, Any]:
    """The JSON answer of `method path` on the server at `url` (default: from the settings); `AiserveError` with
    the server's message, or with how to start it, otherwise."""
    import httpx

    settings = settings_from(config)
    base = url or f"http://{settings.server.host}:{settings.server.port}"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.request(method, f"{base}{path}", headers=headers, timeout=timeout, **kw)
    except httpx.TransportError as exc:
        raise AiserveError(f"cannot reach the server at {base} ({exc}); is `aiserve serve` running?") from None
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {}
    if not response.is_success:
        raise AiserveError(body.get("error", {}).get("message") or f"{response.status_code} {response.text[:200]}")
    return body
