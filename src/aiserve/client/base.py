"""What the sync and the async client share: settings, headers, turning answers and transport failures into
models and exceptions, and reading server-sent events."""

from __future__ import annotations

import json
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from aiserve import __version__
from aiserve.client.calls import Call
from aiserve.client.config import ClientSettings
from aiserve.client.errors import APIConnectionError, APIError, APITimeoutError, error_for, stream_error
from aiserve.client.retry import MAX_WAIT_S, retry_delay

T = TypeVar("T", bound=BaseModel)

DONE = object()
"""What `SSEDecoder.feed` returns for the stream's final `[DONE]`."""


class BaseClient:
    """Settings and the pieces of a call that do not depend on sync or async."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        max_retry_wait: float = MAX_WAIT_S,
    ) -> None:
        env = ClientSettings()
        self.max_retry_wait = max_retry_wait
        """The longest `Retry-After` the client waits out; past it the error goes straight to the caller."""
        self.base_url = (base_url or env.base_url).rstrip("/")
        self.api_key = api_key if api_key is not None else (env.api_key.get_secret_value() if env.api_key else None)
        self.timeout = timeout if timeout is not None else env.timeout
        self.max_retries = max_retries if max_retries is not None else env.max_retries

    def _delay(self, attempt: int, error: APIError) -> float | None:
        """How long to wait before trying again, or None to give up."""
        return retry_delay(attempt, error, max_wait=self.max_retry_wait) if attempt < self.max_retries else None

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": f"aiserve-python/{__version__}"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _build(self, http: httpx.Client | httpx.AsyncClient, call: Call[Any]) -> httpx.Request:
        return http.build_request(call.method, call.path, json=call.json, params=call.params)

    def _transport_error(self, exc: httpx.TransportError) -> APIError:
        if isinstance(exc, httpx.TimeoutException):
            return APITimeoutError(f"The server at {self.base_url} did not answer within {self.timeout:g} s.")
        return APIConnectionError(f"Cannot reach the server at {self.base_url} ({exc.__class__.__name__}: {exc}).")

    def _status_error(self, response: httpx.Response) -> APIError:
        try:
            body = response.json()
        except ValueError:
            body = response.text
        return error_for(response.status_code, body, response.headers)

    @staticmethod
    def _parse(call: Call[T], response: httpx.Response) -> T:
        try:
            return call.answer.model_validate_json(response.content)
        except ValidationError as exc:
            raise APIError(f"The server's answer to {call.method} {call.path} is not what this client reads: "
                           f"{exc.errors()[0]['msg']}") from None  # fmt: skip


class SSEDecoder(Generic[T]):
    """Server-sent events, line by line: each `data:` payload becomes a `T`, `[DONE]` becomes `DONE`, and an
    error event raises the matching exception."""

    def __init__(self, answer: type[T]) -> None:
        self.answer = answer
        self.done = False

    def feed(self, line: str) -> T | object | None:
        """The event this line completes, if any."""
        if not line.startswith("data:"):
            return None
        payload = line[5:].strip()
        if payload == "[DONE]":
            self.done = True
            return DONE
        data = json.loads(payload)
        if isinstance(data, dict) and "error" in data and isinstance(data["error"], dict):
            raise stream_error(data)
        return self.answer.model_validate(data)

    def check_finished(self) -> None:
        """Raise if the stream ended before `[DONE]` (the server went away mid-answer)."""
        if not self.done:
            raise APIConnectionError("The stream ended before the answer was complete: the server closed the "
                                     "connection.")  # fmt: skip
