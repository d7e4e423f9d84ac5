"""The load generator against a tiny in-process HTTP/1.1 server on raw asyncio streams."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from aiserve.bench.loadgen import LoadResult, LoadSpec, main, run_load
from aiserve.bench.openloop import main as open_loop_main, run_open_loop

_BODY = b'{"ok":true}'


class _Server:
    """Answers every request according to ``mode``; counts accepted connections and requests."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self.requests = 0
        self.paths: set[bytes] = set()
        self.headers_seen: list[bytes] = []
        self.bodies: set[bytes] = set()
        self.answered = 0

    def response(self) -> bytes:
        if self.mode == "ok":
            return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
                len(_BODY),
                _BODY,
            )
        if self.mode == "503":
            return b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nRetry-After: 1\r\n\r\nbusy"
        if self.mode == "mixed":  # every third request refused, every ninth without Retry-After
            self.answered += 1
            if self.answered % 9 == 0:
                return b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 4\r\n\r\nbusy"
            if self.answered % 3 == 0:
                return b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nretry-after: 2\r\n\r\nbusy"
            if self.answered % 5 == 0:
                return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
            return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        if self.mode == "chunked":
            return (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n"
                b"5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n1\r\n\n\r\n0\r\nX-Trailer: yes\r\n\r\n"
            )
        # "close": no length, the body ends with the connection
        return b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + _BODY

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.split(b"\r\n")
                self.paths.add(lines[0])
                self.headers_seen = lines[1:]
                length = next(
                    int(v) for k, _, v in (x.partition(b":") for x in lines) if k.lower() == b"content-length"
                )
                self.bodies.add(await reader.readexactly(length))
                self.requests += 1
                if self.mode == "hang":
                    await reader.read()  # until the client gives up and closes
                    return
                writer.write(self.response())
                await writer.drain()
                if self.mode == "close":
                    return
        except ConnectionError:
            return
        finally:
            writer.close()


@asynccontextmanager
async def _serve(mode: str) -> AsyncIterator[tuple[_Server, int]]:
    srv = _Server(mode)
    server = await asyncio.start_server(srv.handle, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    try:
        yield srv, port
    finally:
        server.close()
        await server.wait_closed()


def _spec(port: int, **kw: object) -> LoadSpec:
    args: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "path": "/v1/embeddings",
        "body": b'{"input":"hi"}',
        "concurrency": 4,
        "duration_s": 0.5,
        "warmup_s": 0.1,
        "timeout_s": 5.0,
    }
    args.update(kw)
    return LoadSpec(**args)  # type: ignore[arg-type]


@pytest.mark.integration
@pytest.mark.asyncio
async def test_keepalive_ok_server() -> None:
    async with _serve("ok") as (srv, port):
        res = await run_load(_spec(port, headers={"Authorization": "Bearer k"}))
    assert isinstance(res, LoadResult)
    assert res.requests > 0
    assert res.errors == 0
    assert res.status_counts == {200: res.requests}
    assert srv.connections == 4 < srv.requests
    assert srv.requests >= res.requests
    assert srv.paths == {b"POST /v1/embeddings HTTP/1.1"}
    assert b"Authorization: Bearer k" in srv.headers_seen
    assert b"Content-Type: application/json" in srv.headers_seen
    assert srv.bodies == {b'{"input":"hi"}'}
    assert 0.4 < res.elapsed_s < 1.0
    assert res.rps == pytest.approx(res.requests / res.elapsed_s)
    assert 0 < res.p50_ms <= res.p95_ms <= res.p99_ms
    assert res.mean_ms > 0
    assert res.cpu_s >= 0
    assert 0 <= res.cpu_share <= 1.0


@pytest.mark.integration
@pytest.mark.asyncio
async def test_503_counted_as_errors() -> None:
    async with _serve("503") as (_srv, port):
        res = await run_load(_spec(port))
    assert res.requests > 0
    assert res.status_counts == {503: res.requests}
    assert res.errors == res.requests
    assert res.rps == 0.0
    assert res.p50_ms == 0.0


@pytest.mark.integration
@pytest.mark.asyncio
async def test_chunked_responses_parse() -> None:
    async with _serve("chunked") as (srv, port):
        res = await run_load(_spec(port))
    assert res.requests > 0
    assert res.errors == 0
    assert srv.connections == 4 < srv.requests


@pytest.mark.integration
@pytest.mark.asyncio
async def test_connection_close_reconnects() -> None:
    async with _serve("close") as (srv, port):
        res = await run_load(_spec(port, duration_s=0.3))
    assert res.requests > 0
    assert res.errors == 0
    assert srv.connections == srv.requests


@pytest.mark.integration
@pytest.mark.asyncio
async def test_max_requests_caps_the_total() -> None:
    async with _serve("ok") as (srv, port):
        res = await run_load(_spec(port, max_requests=7, duration_s=5.0))
        assert srv.requests == 7
    assert res.requests <= 7
    assert res.elapsed_s < 4.0  # the workers stop once the budget is spent


@pytest.mark.integration
@pytest.mark.asyncio
async def test_timeouts_are_errors() -> None:
    async with _serve("hang") as (_srv, port):
        res = await run_load(_spec(port, timeout_s=0.15, duration_s=0.4))
    assert res.requests == 0
    assert res.errors > 0
    assert set(res.status_counts) == {0}


@pytest.mark.integration
@pytest.mark.asyncio
async def test_dead_server_backs_off() -> None:
    async with _serve("ok") as (_srv, port):
        pass  # the port is free again: nothing listens there
    res = await run_load(_spec(port, duration_s=0.3))
    assert res.requests == 0
    assert set(res.status_counts) == {0}
    # 4 workers with a 50 ms backoff over 0.3 s: a few dozen errors, not a spin
    assert 0 < res.errors < 60


@pytest.mark.integration
@pytest.mark.asyncio
async def test_main_writes_one_json_object(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_bytes(b'{"a":1}')
    async with _serve("ok") as (srv, port):
        argv = ["--port", str(port), "--path", "/p", "--body-file", str(body), "--header", "X-Key: v"]
        argv += ["--concurrency", "2", "--duration", "0.3", "--warmup", "0.05", "--max-requests", "100000"]
        rc = await asyncio.to_thread(main, argv)
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {
        "concurrency",
        "requests",
        "errors",
        "status_counts",
        "elapsed_s",
        "rps",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "mean_ms",
        "cpu_s",
        "cpu_share",
    }
    assert out["concurrency"] == 2, out
    assert out["requests"] > 0, (out, srv.requests, srv.connections)
    assert out["errors"] == 0
    assert srv.requests <= 100000
    assert b"X-Key: v" in srv.headers_seen
    assert srv.bodies == {b'{"a":1}'}


@pytest.mark.integration
@pytest.mark.asyncio
async def test_vary_gives_every_request_a_body_of_its_own() -> None:
    async with _serve("ok") as (srv, port):
        res = await run_load(_spec(port, body=b'{"input":"s @N@"}', vary=b"@N@", duration_s=0.3))
    assert res.requests > 0
    assert srv.requests == len(srv.bodies) >= res.requests  # no body twice, Content-Length right for each
    assert all(b.startswith(b'{"input":"s ') and b.endswith(b'"}') and b"@N@" not in b for b in srv.bodies)


def test_vary_needs_the_marker_in_the_body() -> None:
    with pytest.raises(ValueError, match="marker"):
        _spec(1, vary=b"@N@")


@pytest.mark.integration
@pytest.mark.asyncio
async def test_open_loop_sends_at_its_rate_and_classes_every_answer() -> None:
    async with _serve("mixed") as (srv, port):
        res = await run_open_loop(_spec(port, duration_s=0.5, concurrency=64), 200.0)
    assert res.due == 100  # 200/s for 0.5 s, whatever the answers
    assert res.sent + res.skipped == res.due
    assert res.sent == srv.requests
    assert res.admitted + res.refused + res.other_status + res.errors == res.sent
    assert res.errors == 0
    assert res.status_counts[200] == res.admitted > 0
    assert res.status_counts[503] + res.status_counts[429] == res.refused > 0
    assert res.missing_retry_after == res.status_counts[429] > 0  # every 429 here lacks it; no 503 does
    assert res.other_status == res.status_counts[404] > 0
    assert 0 < res.refused_p50_ms <= res.refused_p99_ms <= res.refused_max_ms
    assert 0 < res.admitted_p50_ms <= res.admitted_p99_ms <= res.admitted_max_ms
    assert 1 <= res.connections <= 64  # keep-alive connections reused, never more than the cap


@pytest.mark.integration
@pytest.mark.asyncio
async def test_open_loop_skips_what_is_due_past_its_in_flight_cap_and_counts_timeouts() -> None:
    async with _serve("hang") as (srv, port):
        res = await run_open_loop(_spec(port, duration_s=0.3, concurrency=3, timeout_s=0.2), 100.0)
    assert res.due == 30
    assert res.sent >= 3
    assert res.skipped > 0
    assert res.sent + res.skipped == res.due
    assert res.errors == res.timeouts == res.sent  # no answers, every request timed out
    assert res.admitted == res.refused == 0
    assert srv.requests == res.sent


@pytest.mark.integration
@pytest.mark.asyncio
async def test_open_loop_main_writes_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    async with _serve("503") as (_srv, port):
        argv = ["--port", str(port), "--body", '{"i":"@N@"}', "--vary", "@N@", "--rate", "100", "--duration", "0.2"]
        argv += ["--concurrency", "64"]
        rc = await asyncio.to_thread(open_loop_main, argv)
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["due"] == 20
    assert out["refused"] == out["sent"] == 20
    assert out["missing_retry_after"] == 0
    assert out["status_counts"] == {"503": 20}
