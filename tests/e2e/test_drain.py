"""A graceful stop with work in flight: on SIGTERM the server turns `/ready` to 503, refuses new requests with 503
and `Retry-After`, finishes the stream it is sending, writes the usage ledger, and exits 0."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from aiserve.bench.server import ServerProcess

pytestmark = pytest.mark.e2e

ADMIN = "sk-drain-admin-" + "d" * 32
CHAT = "smollm2-135m-instruct"


def test_sigterm_drains_in_flight_work_then_exits_cleanly(
    data_dir: Path, tmp_path: Path, report: Callable[[str], None]
) -> None:
    (tmp_path / "models").symlink_to(data_dir / "models")
    auth = {"Authorization": f"Bearer {ADMIN}"}
    story = {"model": CHAT, "messages": [{"role": "user", "content": "Tell me a long story about a dragon."}],
             "max_tokens": 150, "temperature": 0, "stream": True}  # fmt: skip
    log = tmp_path / "server.log"
    with ServerProcess(["--data-dir", str(tmp_path), "--model", CHAT], api_key=ADMIN, log_path=log) as server:
        assert server.process is not None
        with httpx.Client(base_url=server.url, timeout=600) as http:
            with http.stream("POST", "/v1/chat/completions", json=story, headers=auth) as stream:
                lines = stream.iter_lines()
                assert next(lines).startswith("data: ")  # the answer is under way
                server.process.send_signal(signal.SIGTERM)
                deadline = time.monotonic() + 10
                while (ready := httpx.get(f"{server.url}/ready")).status_code == 200 and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert ready.status_code == 503
                refused = httpx.get(f"{server.url}/v1/models", headers=auth)
                assert refused.status_code == 503
                assert refused.json()["error"]["code"] == "shutting_down"
                assert refused.headers["retry-after"] == "1"
                events = [line for line in lines if line.startswith("data: ")]
            assert events[-1] == "data: [DONE]"  # the stream in flight finished whole
            errors = [event for event in events if '"error"' in event]
            assert not errors, (errors, log.read_text()[-2000:])
        code = server.process.wait(30)
    assert code == 0
    with sqlite3.connect(tmp_path / "aiserve.db") as db:
        rows = db.execute("SELECT route, status, output_tokens FROM usage_events").fetchall()
    report(f"drain: 1 stream in flight, {len(events)} events sent after SIGTERM, 1 new request refused (503), "
              f"exit code {code}, ledger events {len(rows)}: {rows}")  # fmt: skip
    assert rows == [("/v1/chat/completions", 200, 150)]  # written before the exit, the refusal never reached a key
