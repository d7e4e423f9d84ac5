"""The outermost middleware (pure ASGI): it creates each request's record (id, route and policy), enforces the
body limit, refuses new work while the server drains, adds `x-request-id` and `x-total-time` to every response,
and once the answer is done hands the record to the metrics, the usage ledger (metered routes) and the access log.
It also counts the requests in flight that a graceful stop waits for."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aiserve.api.drain import Drain
from aiserve.api.errors import error_response
from aiserve.api.policy import Api, PolicyTable
from aiserve.api.record import RequestRecord
from aiserve.errors import AiserveError, PayloadTooLarge, ShuttingDown
from aiserve.observability.metrics import Metrics
from aiserve.usage.recorder import UsageRecorder
from aiserve.usage.tables import utcnow

access_log = logging.getLogger("aiserve.access")

_MAX_ID_LEN = 64
"""A client's `x-request-id` longer than this (the ledger's column) is replaced by our own."""


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
    """Creates each request's `RequestRecord` and, when the answer is done, reports it once."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        policies: PolicyTable,
        metrics: Metrics,
        max_body_bytes: int,
        max_prompt_bytes: int | None = None,
        access: bool,
        recorder: UsageRecorder | None = None,
        drain: Drain | None = None,
    ) -> None:
        self.app = app
        self.policies = policies
        self.drain = drain or Drain()
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.max_prompt_bytes = max_prompt_bytes or max_body_bytes
        self.access = access
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        route, policy = self.policies.match(scope)
        record = RequestRecord(
            request_id=_client_request_id(scope) or uuid.uuid4().hex,
            method=scope["method"],
            route=route,
            policy=policy,
            client=(scope.get("client") or (None,))[0],
        ).attach(scope)
        rid_header = (b"x-request-id", record.request_id.encode("latin-1"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
                elapsed_ms = f"{(time.perf_counter() - started) * 1000:.2f}".encode()
                message["headers"] = [*message.get("headers", []), rid_header, (b"x-total-time", elapsed_ms)]
            await send(message)

        if self.drain.draining and scope["path"] not in self.drain.exempt:
            message = "The server is shutting down; try again (another replica will answer)."
            await _answer(ShuttingDown(message, retry_after=1.0), send_with_headers, policy.api)
            self._report(record, started)
            return
        self.drain.in_flight += 1
        limit = min(self.max_prompt_bytes, self.max_body_bytes) if policy.prompt else self.max_body_bytes
        try:
            length = _content_length(scope)
            if length is not None and length > limit:
                too_large = PayloadTooLarge(f"The request body is over the limit of {limit} bytes.")
                await _answer(too_large, send_with_headers, policy.api)
            else:
                await self.app(scope, self._limited(receive, limit), send_with_headers)
        finally:
            self.drain.in_flight -= 1
            self._report(record, started)

    def _limited(self, receive: Receive, limit: int) -> Receive:
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(f"The request body is over the limit of {limit} bytes.")
            return message

        return limited_receive

    def _report(self, record: RequestRecord, started: float) -> None:
        record.latency_s = time.perf_counter() - started
        self.metrics.observe_request(record.route, record.model, record.status, record.latency_s, record.queue_s)
        principal = record.principal
        if self.recorder is not None and principal is not None:
            now = utcnow()
            self.recorder.touch(principal.key_id, now)
            if record.policy.metered:
                queue_ms = None if record.queue_s is None else record.queue_s * 1000
                self.recorder.record(
                    request_id=record.request_id, key_id=principal.key_id, user_id=principal.user_id,
                    model=record.model or None, route=record.route, status=record.status,
                    latency_ms=record.latency_s * 1000, queue_ms=queue_ms, input_tokens=record.input_tokens,
                    output_tokens=record.output_tokens, images=record.images, created_at=now, client_ip=record.client,
                )  # fmt: skip
        if self.access:
            _log(record)


def _log(record: RequestRecord) -> None:
    fields: dict[str, Any] = {
        "request_id": record.request_id,
        "method": record.method,
        "route": record.route,
        "status": record.status,
        "latency_ms": round(record.latency_s * 1000, 2),
    }
    if record.model:
        fields["model"] = record.model
    if record.queue_s is not None:
        fields["queue_ms"] = round(record.queue_s * 1000, 2)
    if record.client:
        fields["client"] = record.client
    if record.end_user:
        fields["end_user"] = record.end_user
    latency_ms = record.latency_s * 1000
    access_log.info("%s %s %d %.1f ms", record.method, record.route, record.status, latency_ms, extra=fields)


async def _answer(exc: AiserveError, send: Send, api: Api) -> None:
    """Answer with `exc` before the app has seen the request (its body is not read, so the connection closes)."""
    await error_response(exc, headers={"Connection": "close"}, api=api)({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
