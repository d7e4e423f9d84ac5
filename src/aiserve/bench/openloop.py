"""Open-loop load: requests leave at a fixed rate whatever the answers, the way real traffic arrives.

A closed-loop client waits for each answer before it sends again, so a slow server slows its own load down and its
queue never overflows. Here a pacer launches the requests due by each moment (``rate`` per second), each on a
keep-alive connection from a pool, with at most ``concurrency`` in flight: a request due while that many are out is
skipped (counted, never sent), which bounds the generator's sockets and memory. Each answer is classed as admitted
(2xx), refused (429 or 503, each checked for a `Retry-After` header), another status, or an error (a timeout, a
network error, or no answer by the end). Latency runs from the request's launch (a connection opened for it
included) to its answer's last byte; the pacer's lateness is reported apart, to show the generator kept its pace.

Run as ``python -m aiserve.bench.openloop --rate 800 --concurrency 512 --port 8000 ...``: the load generator's
options (`aiserve.bench.loadgen`; ``--concurrency`` caps the requests in flight, ``--warmup`` and
``--max-requests`` do not apply) and ``--rate``; one JSON object is written to stdout.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from aiserve.bench.loadgen import (
    DRAIN_ABOVE,
    NET_ERRORS,
    LoadSpec,
    arg_parser,
    loop_factory,
    percentile,
    read_response,
    spec_from,
)

_REFUSED = (429, 503)
_TICK_S = 0.001
_GRACE_S = 1.0


@dataclass(frozen=True)
class OpenLoopResult:
    """What an open-loop run saw; latencies in milliseconds, counts over the whole run."""

    rate: float
    max_in_flight: int
    elapsed_s: float
    due: int
    """Requests the pace called for: `sent` + `skipped`."""
    sent: int
    skipped: int
    """Requests due while `max_in_flight` were out: never sent."""
    status_counts: dict[int, int]
    admitted: int
    refused: int
    other_status: int
    errors: int
    """Timeouts, network errors and requests unanswered at the end: `sent` = admitted + refused + other + errors."""
    timeouts: int
    missing_retry_after: int
    """Refusals (429, 503) without a `Retry-After` header."""
    admitted_p50_ms: float
    admitted_p99_ms: float
    admitted_max_ms: float
    refused_p50_ms: float
    refused_p99_ms: float
    refused_max_ms: float
    lag_p99_ms: float
    """How late the pacer launched requests (the generator's own delay), 99th percentile."""
    connections: int
    cpu_s: float
    cpu_share: float
    """The generator's CPU time over its wall time (the last answers awaited included), over all cores."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _State:
    """Shared by the pacer and the requests; the event loop is single-threaded, so plain attributes suffice."""

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.request = spec.requests()
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.in_flight = 0
        self.sent = 0
        self.skipped = 0
        self.connections = 0
        self.timeouts = 0
        self.errors = 0
        self.missing_retry_after = 0
        self.status_counts: dict[int, int] = {}
        self.admitted: list[float] = []
        self.refused: list[float] = []
        self.lags: list[float] = []

    def record(self, status: int, latency_s: float, retry_after: bool) -> None:
        self.status_counts[status] = self.status_counts.get(status, 0) + 1
        if 200 <= status < 300:
            self.admitted.append(latency_s)
        elif status in _REFUSED:
            self.refused.append(latency_s)
            if not retry_after:
                self.missing_retry_after += 1


async def _connection(state: _State) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    while state.idle:
        reader, writer = state.idle.pop()
        if not reader.at_eof():
            return reader, writer
        writer.close()  # the server closed it while it was idle
    state.connections += 1
    return await asyncio.open_connection(state.spec.host, state.spec.port)


async def _one(state: _State) -> None:
    """Send one request, on a pooled connection or a new one, and record its answer."""
    started = time.perf_counter()
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    keep = False
    try:
        async with asyncio.timeout(state.spec.timeout_s):
            conn = await _connection(state)
            request = state.request()
            conn[1].write(request)
            if len(request) > DRAIN_ABOVE:
                await conn[1].drain()
            status, keep, retry_after = await read_response(conn[0])
    except TimeoutError:
        state.timeouts += 1
        state.errors += 1
    except NET_ERRORS:
        state.errors += 1
    except asyncio.CancelledError:  # unanswered when the run ended
        state.errors += 1
        raise
    else:
        state.record(status, time.perf_counter() - started, retry_after)
    finally:
        state.in_flight -= 1
        if conn is not None:
            if keep:
                state.idle.append(conn)
            else:
                conn[1].close()


def _launch(state: _State, lag_s: float) -> None:
    if state.in_flight >= state.spec.concurrency:
        state.skipped += 1
        return
    state.in_flight += 1
    state.sent += 1
    state.lags.append(lag_s)
    task = asyncio.create_task(_one(state))
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)


async def _pace(state: _State, rate: float) -> float:
    """Launch each request at its due time for `duration_s`; return the seconds it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    end = start + state.spec.duration_s
    total = int(state.spec.duration_s * rate)
    n = 0
    while n < total:
        now = loop.time()
        due = min(total, int((now - start) * rate) + 1)
        while n < due:
            _launch(state, now - (start + n / rate))
            n += 1
        # sleep until the next request is due; a tick at least, so the requests in flight get the loop
        await asyncio.sleep(max(_TICK_S, start + n / rate - loop.time()))
    return max(loop.time(), end) - start


async def _settle(state: _State) -> None:
    """Wait for the requests in flight to be answered or to time out; then give up on the rest."""
    if state.tasks:
        await asyncio.wait(set(state.tasks), timeout=state.spec.timeout_s + _GRACE_S)
    for task in list(state.tasks):
        task.cancel()
    await asyncio.gather(*state.tasks, return_exceptions=True)
    for _, writer in state.idle:
        writer.close()
    state.idle.clear()
    await asyncio.sleep(0)  # let the closed transports release their sockets


async def run_open_loop(spec: LoadSpec, rate: float) -> OpenLoopResult:
    """Send `rate` requests per second for `spec.duration_s`, at most `spec.concurrency` in flight; wait for the
    last answers (up to `spec.timeout_s`)."""
    if rate <= 0:
        raise ValueError("rate must be > 0")
    state = _State(spec)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    try:
        elapsed = await _pace(state, rate)
    finally:
        await _settle(state)
    wall, cpu_s = time.perf_counter() - wall0, time.process_time() - cpu0
    admitted, refused, lags = sorted(state.admitted), sorted(state.refused), sorted(state.lags)
    return OpenLoopResult(
        rate=rate,
        max_in_flight=spec.concurrency,
        elapsed_s=elapsed,
        due=state.sent + state.skipped,
        sent=state.sent,
        skipped=state.skipped,
        status_counts=dict(sorted(state.status_counts.items())),
        admitted=len(admitted),
        refused=len(refused),
        other_status=sum(state.status_counts.values()) - len(admitted) - len(refused),
        errors=state.errors,
        timeouts=state.timeouts,
        missing_retry_after=state.missing_retry_after,
        admitted_p50_ms=percentile(admitted, 50),
        admitted_p99_ms=percentile(admitted, 99),
        admitted_max_ms=admitted[-1] * 1000.0 if admitted else 0.0,
        refused_p50_ms=percentile(refused, 50),
        refused_p99_ms=percentile(refused, 99),
        refused_max_ms=refused[-1] * 1000.0 if refused else 0.0,
        lag_p99_ms=percentile(lags, 99),
        connections=state.connections,
        cpu_s=cpu_s,
        cpu_share=cpu_s / wall / (os.cpu_count() or 1) if wall > 0 else 0.0,
    )


def main(argv: list[str] | None = None) -> int:
    p = arg_parser("python -m aiserve.bench.openloop", __doc__.splitlines()[0])
    p.add_argument("--rate", type=float, required=True, help="requests per second, whatever the answers")
    a = p.parse_args(argv)
    spec = spec_from(p, a)
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        result = runner.run(run_open_loop(spec, a.rate))
    sys.stdout.write(json.dumps(result.to_dict()) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
