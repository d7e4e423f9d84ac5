"""Real PostgreSQL for the tests: Debian's server, started on a free loopback port in a temporary directory and
stopped afterwards. Skipped (with the reason) where the server is not installed; `make test` installs it."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _as_postgres(cmd: list[str]) -> list[str]:
    """Root may not run PostgreSQL: run it as the `postgres` user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class PostgresServer:
    """One PostgreSQL server that a test may stop and start again (same port, same data)."""

    def __init__(self, pg_ctl: list[str], url: str) -> None:
        self._pg_ctl = pg_ctl
        self.url = url

    def start(self) -> None:
        """Start it and wait until it takes connections."""
        _run(_as_postgres([*self._pg_ctl, "-w", "start"]))

    def stop(self) -> None:
        """Stop it (fast: open connections are closed)."""
        subprocess.run(_as_postgres([*self._pg_ctl, "-m", "fast", "-w", "stop"]), check=False, capture_output=True)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL with an empty database `aiserve`."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not bins:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql; make test does it)")
    bindir = Path(bins[-1]).parent
    data = Path(tempfile.mkdtemp(prefix="aiserve-pg-"))  # under /tmp: the postgres user must reach it
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
    port = free_port()
    _run(_as_postgres([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]))
    options = f"-h 127.0.0.1 -p {port} -k {data} -c fsync=off"
    server = PostgresServer([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(data / "log"), "-o", options],
                            f"postgresql+asyncpg://postgres@127.0.0.1:{port}/aiserve")  # fmt: skip
    server.start()
    try:
        _run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "aiserve"])
        yield server
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


@contextmanager
def postgres() -> Iterator[str]:
    """A running PostgreSQL with an empty database `aiserve`; its asyncpg URL."""
    with postgres_server() as server:
        yield server.url


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr or done.stdout}")


class RedisServer:
    """One Redis (no persistence) on a fixed loopback port, which a test may kill and start again."""

    def __init__(self, binary: str, port: int) -> None:
        self._binary = binary
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and wait until it takes connections."""
        command = [self._binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def kill(self) -> None:
        """Kill it at once (SIGKILL): what it held is gone."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(10)
            self._process = None

    def stop(self) -> None:
        """Stop it."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            self._process = None


@contextmanager
def redis_instance() -> Iterator[RedisServer]:
    """A running Redis that a test may kill and start again."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("Redis is not installed (apt-get install redis-server; make test does it)")
    server = RedisServer(binary, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def redis_server() -> Iterator[str]:
    """A running Redis with no persistence on a free loopback port; its URL."""
    with redis_instance() as server:
        yield server.url
