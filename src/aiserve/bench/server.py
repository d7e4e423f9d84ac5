"""Start `aiserve serve` as a child process on a free port, and read its CPU time."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, TypeVar

import httpx


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads), or None where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


T = TypeVar("T")


def against(url: str | None, model: str, data_dir: Path, measure: Callable[[str], T]) -> T:
    """`measure(url)`, or, with no URL, `measure` against a private server of `model` on `data_dir`."""
    if url:
        return measure(url)
    args = ["--model", model, "--log-level", "warning", "--data-dir", str(data_dir)]
    with ServerProcess(args) as server:
        return measure(server.url)


class ServerProcess:
    """`with ServerProcess(args) as server:` runs `aiserve serve` until `/ready` answers 200."""

    def __init__(
        self,
        args: list[str],
        *,
        ready_timeout_s: float = 120.0,
        log_path: Path | None = None,
        api_key: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """`api_key`: serve with keys required and this one as the first admin key; without it, this private
        server on a free loopback port requires none. `env`: more `AISERVE_*` settings for the server."""
        self.port = free_port()
        self.api_key = api_key
        self._env = env or {}
        self.url = f"http://127.0.0.1:{self.port}"
        self._args = args
        self._ready_timeout_s = ready_timeout_s
        self._log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        cmd = [sys.executable, "-m", "aiserve", "serve", "--host", "127.0.0.1", "--port", str(self.port), *self._args]
        self._log = self._log_path.open("wb") if self._log_path else None
        out = self._log or subprocess.DEVNULL
        auth = {"AISERVE_AUTH__BOOTSTRAP_KEY": self.api_key} if self.api_key else {"AISERVE_AUTH__ENABLED": "false"}
        self.process = subprocess.Popen(cmd, stdout=out, stderr=out, env={**os.environ, **auth, **self._env})  # noqa: TID251
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self._ready_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"aiserve serve exited with code {self.process.returncode} before it was ready")
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"aiserve serve was not ready within {self._ready_timeout_s:g} s")

    def cpu_seconds(self) -> float | None:
        """CPU seconds the server has used so far."""
        return process_cpu_seconds(self.process.pid) if self.process else None

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), then kill after 15 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
