"""Slow and greedy clients against a real server: connections that send nothing or a header byte at a time are cut
off at the header deadline, oversized headers are refused before they are buffered, too many connections get a fast
503, and a well-behaved client is served throughout."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aiserve.bench.server import ServerProcess
from tests.e2e.conftest import own_home

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = own_home(data_dir, tmp_path_factory, "slow")
    env = {"AISERVE_SERVER__HEADER_TIMEOUT_S": "2", "AISERVE_SERVER__MAX_CONNECTIONS": "40",
           "AISERVE_AUTH__ENABLED": "false"}  # fmt: skip
    with ServerProcess(["--data-dir", str(home), "--model", "all-minilm-l6-v2"], env=env) as proc:
        yield proc


def connect(server: ServerProcess) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def closed_by_server(sock: socket.socket) -> tuple[bool, bytes]:
    """Whether the server closed the connection (what it sent first)."""
    try:
        data = sock.recv(4096)
        rest = data
        while data:
            data = sock.recv(4096)
            rest += data
        return True, rest
    except (ConnectionResetError, BrokenPipeError):
        return True, b""
    except TimeoutError:
        return False, b""


def test_silent_and_trickling_connections_are_cut_off_and_others_are_served(server: ServerProcess) -> None:
    silent = [connect(server) for _ in range(10)]
    trickling = [connect(server) for _ in range(10)]
    cut: set[int] = set()
    started = time.monotonic()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            for i in range(12):  # a header byte every 0.25 s from each trickler; a normal client meanwhile
                for n, sock in enumerate(trickling):
                    try:
                        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: "[i : i + 1] or b"a")
                    except (BrokenPipeError, ConnectionResetError):
                        cut.add(n)  # closed by the server already
                answer = http.post("/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": f"sentence {i}"})
                assert answer.status_code == 200
                time.sleep(0.25)
        outcomes = [closed_by_server(sock) for sock in silent + trickling]
        assert all(closed for closed, _ in outcomes), "a slow connection was left open"
        told = [first for n, (_, first) in enumerate(outcomes[10:]) if n not in cut]
        assert all(first.startswith(b"HTTP/1.1 408") for first in told)  # the tricklers are told why
        assert time.monotonic() - started < 30
    finally:
        for sock in silent + trickling:
            sock.close()


@pytest.mark.parametrize(("header", "count"), [("X-Big", 1), ("X-Many", 150)])
def test_oversized_or_too_many_headers_are_refused_without_buffering_them(
    server: ServerProcess, header: str, count: int
) -> None:
    sock = connect(server)
    if count == 1:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        try:
            for _ in range(64):  # 4 MB of one header value: refused long before the end
                sock.sendall(b"a" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass
    else:
        lines = "".join(f"{header}-{i}: v\r\n" for i in range(count))
        sock.sendall(f"GET /health HTTP/1.1\r\nHost: x\r\n{lines}\r\n".encode())
    closed, first = closed_by_server(sock)
    sock.close()
    assert closed
    assert first.startswith(b"HTTP/1.1 431") or first == b""  # the reset may beat the answer to the client
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_connections_past_the_cap_get_a_fast_503(server: ServerProcess) -> None:
    held = [connect(server) for _ in range(40)]  # silent: held until the 2 s header deadline
    try:
        time.sleep(0.2)
        answer = httpx.get(f"{server.url}/health", timeout=10)
        assert answer.status_code == 503
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 10
    while httpx.get(f"{server.url}/health", timeout=10).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)
