"""Pure ASGI middleware: request ids, body size limit, timing header, access log, request metrics, and the count
of requests in flight that a graceful stop waits for (new ones are refused with 503 while it drains)."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aiserve.api.drain import Drain
from aiserve.api.errors import error_response
from aiserve.errors import PayloadTooLarge
from aiserve.observability.metrics import Metrics
from aiserve.usage.recorder import UsageRecorder
from aiserve.usage.tables import utcnow

access_log = logging.getLogger("aiserve.access")

_MAX_ID_LEN = 128

MODEL_ROUTES = ("/v1/embeddings", "/v1/chat", "/v1/completions", "/v1/classify", "/v1/inspect", "/v2/classify")
"""Requests to these (by an authenticated key) go in the usage ledger, whatever their status."""


def _client_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            if 0 < len(text) <= _MAX_ID_LEN and text.isprintable():
                return text
            return None
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class RequestContextMiddleware:
    """Gives every request an id (the client's `x-request-id` if sane), enforces the body limit, adds
    `x-request-id` and `x-total-time` to every response, and logs and counts each request once."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body_bytes: int,
        access: bool,
        recorder: UsageRecorder | None = None,
        drain: Drain | None = None,
    ) -> None:
        self.app = app
        self.drain = drain or Drain()
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.access = access
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _client_request_id(scope) or uuid.uuid4().hex
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        rid_header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                elapsed_ms = f"{(time.perf_counter() - started) * 1000:.2f}".encode()
                message["headers"] = [*message.get("headers", []), rid_header, (b"x-total-time", elapsed_ms)]
            await send(message)

        length = _content_length(scope)
        if self.drain.draining and scope["path"] not in self.drain.exempt:
            await self._shutting_down(send_with_headers)
            self._record(scope, state, 503, time.perf_counter() - started)
            return
        self.drain.in_flight += 1
        try:
            if length is not None and length > self.max_body_bytes:
                await self._too_large(send_with_headers)
            else:
                await self.app(scope, self._limited(receive), send_with_headers)
        finally:
            self.drain.in_flight -= 1
            self._record(scope, state, status, time.perf_counter() - started)

    def _limited(self, receive: Receive) -> Receive:
        received = 0
        limit = self.max_body_bytes

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(f"The request body is over the limit of {limit} bytes.")
            return message

        return limited_receive

    async def _shutting_down(self, send: Send) -> None:
        response = error_response(503, "The server is shutting down; try again (another replica will answer).",
                                  type_="service_unavailable", code="shutting_down",
                                  headers={"Retry-After": "1", "Connection": "close"})  # fmt: skip
        await response({"type": "http"}, _no_receive, send)

    async def _too_large(self, send: Send) -> None:
        response = error_response(
            413,
            f"The request body is over the limit of {self.max_body_bytes} bytes.",
            type_="invalid_request_error",
            code="payload_too_large",
            headers={"Connection": "close"},
        )
        await response({"type": "http"}, _no_receive, send)

    def _record(self, scope: Scope, state: dict[str, Any], status: int, elapsed: float) -> None:
        route = scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        model = state.get("model", "")
        queue_s = state.get("queue_s")
        self.metrics.observe_request(path, model, status, elapsed, queue_s)
        principal = state.get("principal")
        if self.recorder is not None and principal is not None:
            now = utcnow()
            self.recorder.touch(principal.key_id, now)
            if scope["path"].startswith(MODEL_ROUTES):
                self.recorder.record(
                    request_id=state["request_id"], key_id=principal.key_id, user_id=principal.user_id,
                    model=model or None, route=scope["path"], status=status, latency_ms=elapsed * 1000,
                    queue_ms=None if queue_s is None else queue_s * 1000, input_tokens=state.get("input_tokens", 0),
                    output_tokens=state.get("output_tokens", 0), images=state.get("images", 0), created_at=now,
                    client_ip=(scope.get("client") or (None,))[0],
                )  # fmt: skip
        if not self.access:
            return
        fields: dict[str, Any] = {
            "request_id": state["request_id"],
            "method": scope["method"],
            "route": path,
            "status": status,
            "latency_ms": round(elapsed * 1000, 2),
        }
        if model:
            fields["model"] = model
        if queue_s is not None:
            fields["queue_ms"] = round(queue_s * 1000, 2)
        client = scope.get("client")
        if client:
            fields["client"] = client[0]
        access_log.info("%s %s %d %.1f ms", scope["method"], scope["path"], status, elapsed * 1000, extra=fields)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
