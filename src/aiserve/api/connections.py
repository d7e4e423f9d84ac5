"""The HTTP connection itself, before any ASGI code runs: slow and greedy clients are cut off.

uvicorn's own protocol waits for headers as long as a client likes and buffers them whole, so one connection that
sends a byte a second, or a 200 MB header, holds a socket and memory for good. This protocol (httptools underneath,
as uvicorn's default) adds:

- a deadline for a request's headers, from the connection's first moment or the request's first byte: past it,
  408 and the connection closes (a connection that never sends anything is closed too);
- a deadline for its body, once the headers are in;
- a bound on the size of the headers and on their count: past it, 431 and the connection closes.

The number of connections is capped by uvicorn itself (`limit_concurrency`: past it, a fast 503).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """What one HTTP connection may take."""

    header_timeout_s: float
    body_timeout_s: float
    max_header_bytes: int
    max_headers: int


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with deadlines and header bounds (`limits` is set by `guarded`)."""

    limits = ConnectionLimits(header_timeout_s=10.0, body_timeout_s=60.0, max_header_bytes=32 * 1024, max_headers=100)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._in_headers = True
        self._header_bytes = 0
        self._header_count = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request's headers."""
        super().connection_made(transport)
        self._arm(self.limits.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Parse; while a request's headers are still incomplete, everything received so far was header bytes that
        the parser holds: past the bound, refuse."""
        super().data_received(data)
        if self._in_headers and not self.transport.is_closing():
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes:
                self._refuse(431, "Request Header Fields Too Large")

    def on_message_begin(self) -> None:
        """A new request: its headers have the deadline from now (unless already running from the connection)."""
        super().on_message_begin()
        self._in_headers, self._header_count, self._header_bytes = True, 0, 0
        if self._deadline is None:
            self._arm(self.limits.header_timeout_s)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count the headers."""
        self._header_count += 1
        if self._header_count > self.limits.max_headers or self.transport.is_closing():
            self._refuse(431, "Request Header Fields Too Large")
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        """Headers in: the body has its own deadline (a refused request never reaches the app)."""
        if self.transport.is_closing():
            return
        self._in_headers = False
        self._arm(self.limits.body_timeout_s)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        """Pass the body on, unless the request was refused."""
        if not self.transport.is_closing():
            super().on_body(body)

    def on_message_complete(self) -> None:
        """The whole request is in: no deadline until the next one begins."""
        self._disarm()
        if not self.transport.is_closing():
            super().on_message_complete()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._in_headers:
            self._refuse(408, "Request Timeout")
        else:  # the app is already reading the body: it sees the client leave
            self.transport.close()

    def _refuse(self, status: int, reason: str) -> None:
        self._disarm()
        if self.transport.is_closing():
            return
        body = f"{reason}\n".encode()
        head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")  # fmt: skip
        self.transport.write(head.encode() + body)
        self.transport.close()


def guarded(limits: ConnectionLimits) -> type[GuardedHttpToolsProtocol]:
    """The protocol class with these limits, for `uvicorn.Config(http=...)`."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"limits": limits})
