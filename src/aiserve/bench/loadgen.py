"""A lean closed-loop HTTP/1.1 load generator on raw asyncio streams, with keep-alive connections.

Each of ``concurrency`` workers owns one connection and sends one request at a time. A warmup phase runs
unrecorded; then a measured window records latencies, statuses and this process's own CPU use, so a benchmark
can tell how much of the machine the generator took from the server it measures. With ``--vary MARKER`` each
request's body has the marker replaced by a number of its own, so no cache can answer it. Its open-loop sibling,
`aiserve.bench.openloop`, takes the same options and ``--rate``.

Run as ``python -m aiserve.bench.loadgen --port 8000 --path /v1/embeddings --body '{...}'``; one JSON object
is written to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_BACKOFF_S = 0.05
_MAX_GRACE_S = 2.0
DRAIN_ABOVE = 1 << 16
NET_ERRORS = (OSError, TimeoutError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError)


@dataclass(frozen=True)
class LoadSpec:
    host: str
    port: int
    path: str
    body: bytes
    concurrency: int
    duration_s: float
    warmup_s: float = 1.0
    headers: dict[str, str] = field(default_factory=dict)
    max_requests: int | None = None
    timeout_s: float = 30.0
    vary: bytes = b""
    """A marker in `body`: its first occurrence is replaced in each request by a number of its own (unique to the
    run too). Empty: every request is the same."""

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.duration_s <= 0 or self.warmup_s < 0 or self.timeout_s <= 0:
            raise ValueError("concurrency >= 1, duration_s > 0, warmup_s >= 0 and timeout_s > 0 are required")
        if self.max_requests is not None and self.max_requests < 0:
            raise ValueError("max_requests must be >= 0")
        if self.vary and self.vary not in self.body:
            raise ValueError(f"the marker {self.vary!r} is not in the body")

    def _head(self) -> bytes:
        """The request line and headers, all but `Content-Length`."""
        given = {k.lower() for k in self.headers}
        head = [f"POST {self.path} HTTP/1.1"]
        if "host" not in given:
            head.append(f"Host: {self.host}:{self.port}")
        if "content-type" not in given:
            head.append("Content-Type: application/json")
        head.extend(f"{k}: {v}" for k, v in self.headers.items() if k.lower() != "content-length")
        return ("\r\n".join(head) + "\r\n").encode("latin-1")

    def request_bytes(self) -> bytes:
        """The whole request with `body` as it is, built once and sent as is on every iteration."""
        return self._head() + b"Content-Length: %d\r\n\r\n" % len(self.body) + self.body

    def requests(self) -> Callable[[], bytes]:
        """Makes each request's bytes: `request_bytes()` every time, or with `vary`, a body of its own each time."""
        if not self.vary:
            whole = self.request_bytes()
            return lambda: whole
        head = self._head()
        before, _, after = self.body.partition(self.vary)
        counter = itertools.count()
        run = b"%08x-" % random.getrandbits(32)

        def make() -> bytes:
            body = b"%s%s%d%s" % (before, run, next(counter), after)
            return head + b"Content-Length: %d\r\n\r\n" % len(body) + body

        return make


@dataclass(frozen=True)
class LoadResult:
    concurrency: int
    requests: int
    errors: int
    status_counts: dict[int, int]
    elapsed_s: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    cpu_s: float
    cpu_share: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _State:
    """Shared by the workers; the event loop is single-threaded, so plain attributes suffice."""

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.request = spec.requests()
        self.loop = asyncio.get_running_loop()
        self.measuring = False
        self.stop = False
        self.sent = 0
        self.latencies: list[float] = []
        self.status_counts: dict[int, int] = {}

    def take_slot(self) -> bool:
        cap = self.spec.max_requests
        if self.stop or (cap is not None and self.sent >= cap):
            return False
        self.sent += 1
        return True

    def record(self, status: int, latency_s: float) -> None:
        if self.measuring:
            self.status_counts[status] = self.status_counts.get(status, 0) + 1
            if 200 <= status < 300:
                self.latencies.append(latency_s)


def _header_value(low_head: bytes, name: bytes) -> bytes | None:
    i = low_head.find(b"\r\n" + name + b":")
    if i < 0:
        return None
    start = i + len(name) + 3
    end = low_head.find(b"\r\n", start)
    return low_head[start : end if end >= 0 else len(low_head)].strip()


async def _read_chunked(reader: asyncio.StreamReader) -> None:
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, then the final blank line
                pass
            return
        await reader.readexactly(size + 2)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool, bool]:
    """Read one response, discarding its body; return its status, whether the connection stays usable and whether
    it carried a `Retry-After` header."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    low = head[:-2].lower()
    conn = _header_value(low, b"connection")
    keep = (b"close" not in conn) if conn is not None else low.startswith(b"http/1.1")
    retry_after = b"\r\nretry-after:" in low
    if status in (204, 304) or 100 <= status < 200:
        return status, keep, retry_after
    te = _header_value(low, b"transfer-encoding")
    length = _header_value(low, b"content-length")
    if te is not None and b"chunked" in te:
        await _read_chunked(reader)
    elif length is not None:
        await reader.readexactly(int(length))
    else:  # delimited by the end of the connection
        await reader.read()
        keep = False
    return status, keep, retry_after


def _close(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None:
        writer.close()


class _Watchdog:
    """A per-request timeout cheaper than ``asyncio.timeout``: one timer handle, no context manager objects."""

    __slots__ = ("fired", "task")

    def __init__(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.task = task
        self.fired = False

    def fire(self) -> None:
        self.fired = True
        self.task.cancel()

    def expired(self) -> bool:
        """After a CancelledError: whether it was this timeout's alone (then it is withdrawn)."""
        if not self.fired:
            return False
        self.fired = False
        return self.task.uncancel() == 0


async def _exchange(state: _State, dog: _Watchdog, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """One request/response; return whether the connection may be reused. Raise on network errors."""
    t0 = time.perf_counter()
    timer = state.loop.call_at(state.loop.time() + state.spec.timeout_s, dog.fire)
    try:
        request = state.request()
        writer.write(request)
        if len(request) > DRAIN_ABOVE:
            await writer.drain()
        status, keep, _ = await read_response(reader)
    except asyncio.CancelledError:
        if dog.expired():
            raise TimeoutError from None
        raise
    finally:
        timer.cancel()
    state.record(status, time.perf_counter() - t0)
    return keep


async def _worker(state: _State) -> None:
    spec = state.spec
    dog = _Watchdog()
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    try:
        while not state.stop:
            if not state.take_slot():
                break
            try:
                if conn is None:
                    try:
                        async with asyncio.timeout(spec.timeout_s):
                            conn = await asyncio.open_connection(spec.host, spec.port)
                    except BaseException:
                        state.sent -= 1  # nothing was sent: give the slot back
                        raise
                if not await _exchange(state, dog, *conn):
                    _close(conn[1])
                    conn = None
            except NET_ERRORS:
                state.record(0, 0.0)
                _close(conn[1] if conn is not None else None)
                conn = None
                if not state.stop:
                    await asyncio.sleep(_BACKOFF_S)
    finally:
        _close(conn[1] if conn is not None else None)


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list, in milliseconds; 0.0 for an empty list."""
    if not ordered:
        return 0.0
    rank = min(len(ordered), max(1, math.ceil(q / 100.0 * len(ordered) - 1e-9)))
    return ordered[rank - 1] * 1000.0


def _result(state: _State, elapsed: float, cpu_s: float) -> LoadResult:
    counts = dict(sorted(state.status_counts.items()))
    ok = sum(n for s, n in counts.items() if 200 <= s < 300)
    lat = sorted(state.latencies)
    return LoadResult(
        concurrency=state.spec.concurrency,
        requests=sum(n for s, n in counts.items() if s != 0),
        errors=sum(counts.values()) - ok,
        status_counts=counts,
        elapsed_s=elapsed,
        rps=ok / elapsed if elapsed > 0 else 0.0,
        p50_ms=percentile(lat, 50),
        p95_ms=percentile(lat, 95),
        p99_ms=percentile(lat, 99),
        mean_ms=sum(lat) / len(lat) * 1000.0 if lat else 0.0,
        cpu_s=cpu_s,
        cpu_share=cpu_s / elapsed / (os.cpu_count() or 1) if elapsed > 0 else 0.0,
    )


async def run_load(spec: LoadSpec) -> LoadResult:
    """Drive ``spec.concurrency`` keep-alive connections for warmup, then for the measured window."""
    state = _State(spec)
    tasks = [asyncio.create_task(_worker(state)) for _ in range(spec.concurrency)]
    try:
        if spec.warmup_s > 0:
            await asyncio.wait(tasks, timeout=spec.warmup_s)
        state.measuring = True
        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.wait(tasks, timeout=spec.duration_s)
        state.measuring = False
        elapsed, cpu_s = time.perf_counter() - t0, time.process_time() - c0
        state.stop = True
        await asyncio.wait(tasks, timeout=min(spec.timeout_s, _MAX_GRACE_S))
    finally:
        state.stop = True
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0)  # let the closed transports release their sockets
    for outcome in outcomes:
        if isinstance(outcome, Exception):  # a bug in a worker, not a network error: do not hide it
            raise outcome
    return _result(state, elapsed, cpu_s)


def arg_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The options of a `LoadSpec` (see `spec_from`)."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/")
    body = p.add_mutually_exclusive_group()
    body.add_argument("--body", default="{}", help="the request body, a string")
    body.add_argument("--body-file", type=Path, help="read the request body from this file")
    p.add_argument("--header", action="append", default=[], metavar="'K: V'", help="an extra header; repeatable")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=1.0, help="unrecorded seconds before the measurement")
    p.add_argument("--max-requests", type=int, default=None, help="never send more than this many requests")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout in seconds")
    p.add_argument("--vary", default="", metavar="MARKER", help="replace MARKER in each body by a number of its own")
    return p


def spec_from(p: argparse.ArgumentParser, a: argparse.Namespace) -> LoadSpec:
    """The `LoadSpec` that `a`, parsed by `p` (an `arg_parser`), describes."""
    headers: dict[str, str] = {}
    for h in a.header:
        name, sep, value = h.partition(":")
        if not sep or not name.strip():
            p.error(f"--header wants 'K: V', got {h!r}")
        headers[name.strip()] = value.strip()
    return LoadSpec(
        host=a.host,
        port=a.port,
        path=a.path,
        body=a.body_file.read_bytes() if a.body_file is not None else a.body.encode(),
        concurrency=a.concurrency,
        duration_s=a.duration,
        warmup_s=a.warmup,
        headers=headers,
        max_requests=a.max_requests,
        timeout_s=a.timeout,
        vary=a.vary.encode(),
    )


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed; None (asyncio's own) where not."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> int:
    p = arg_parser("python -m aiserve.bench.loadgen", __doc__.splitlines()[0])
    spec = spec_from(p, p.parse_args(argv))
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        result = runner.run(run_load(spec))
    sys.stdout.write(json.dumps(result.to_dict()) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
