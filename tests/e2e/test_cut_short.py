"""An answer cut short is still charged: a client that reads a few chunks of a stream and leaves is counted in the
ledger (and its key's token limit) for the tokens it was sent."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aiserve.bench.server import ServerProcess
from tests.e2e.conftest import own_home, user_key

pytestmark = pytest.mark.e2e

ADMIN = "sk-cut-short-admin-" + "c" * 32
CHAT = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = own_home(data_dir, tmp_path_factory, "cut-short")
    with ServerProcess(["--data-dir", str(home), "--model", CHAT], api_key=ADMIN) as proc:
        yield proc


def test_a_stream_the_client_leaves_is_charged_for_what_it_was_sent(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=600) as http:
        key = user_key(http, ADMIN, "leaver", {"tokens_per_minute": 100_000})
        body = {"model": CHAT, "messages": [{"role": "user", "content": "Count from one to two hundred in words."}],
                "max_tokens": 400, "temperature": 0, "stream": True}  # fmt: skip
        pieces = 0
        with http.stream("POST", "/v1/chat/completions", json=body, headers=key) as stream:
            assert stream.status_code == 200
            for line in stream.iter_lines():
                if line.startswith("data: {") and json.loads(line[6:])["choices"][0]["delta"].get("content"):
                    pieces += 1
                if pieces == 8:
                    break  # leave before the end
        deadline = time.monotonic() + 30
        while True:
            usage = http.get("/v1/usage", headers=key).json()
            if usage["total_requests"] == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert usage["total_requests"] == 1
        assert usage["input_tokens"] > 10  # the prompt, templated
        assert 8 <= usage["output_tokens"] < 400  # what was sent before it left, not the whole answer nor nothing
        after = http.post("/v1/embeddings", json={"model": "x", "input": "y"}, headers=key)
        spent = 100_000 - int(after.headers.get("x-ratelimit-remaining-tokens", 100_000))
        assert spent >= usage["input_tokens"] + usage["output_tokens"]  # the token limit was charged too


def test_a_chat_whose_worst_case_cannot_fit_the_key_is_told_so(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=600) as http:
        key = user_key(http, ADMIN, "small", {"tokens_per_minute": 300})
        ask = {"model": CHAT, "messages": [{"role": "user", "content": "Say hi."}], "temperature": 0}
        too_big = http.post("/v1/chat/completions", json={**ask, "max_tokens": 400}, headers=key)
        assert too_big.status_code == 400, too_big.text  # waiting would never help: not a 429
        assert "more than this API key may use in a minute (300)" in too_big.json()["error"]["message"]
        fits = http.post("/v1/chat/completions", json={**ask, "max_tokens": 20}, headers=key)
        assert fits.status_code == 200, fits.text
        used = fits.json()["usage"]["total_tokens"]
        deadline = time.monotonic() + 30  # the answer is settled just after it is sent: wait for that state
        while True:  # a body the schema refuses passes the limiter (showing what is left) but uses no tokens
            probe = http.post("/v1/chat/completions", json={"model": CHAT}, headers=key)
            assert probe.status_code == 400
            left = int(probe.headers["x-ratelimit-remaining-tokens"])
            if left == 300 - used or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert left == 300 - used  # charged what it used; what it held back is given back
