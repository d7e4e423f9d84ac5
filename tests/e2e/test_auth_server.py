"""A real server with keys required: the official `openai` client, the CLI's admin commands, and logs that never
show a key."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from aiserve.bench.server import ServerProcess
from tests.e2e.test_cli import aiserve

pytestmark = pytest.mark.e2e

ADMIN = "sk-e2e-admin-" + "b" * 32


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("auth-e2e")
    (home / "models").symlink_to(data_dir / "models")
    log = home / "server.log"
    args = ["--data-dir", str(home), "--model", "all-minilm-l6-v2"]
    with ServerProcess(args, api_key=ADMIN, log_path=log) as proc:
        proc.log_path = log  # type: ignore[attr-defined]
        yield proc


def test_the_openai_client_needs_a_key(server: ServerProcess) -> None:
    good = openai.OpenAI(base_url=f"{server.url}/v1", api_key=ADMIN, max_retries=0)
    assert len(good.embeddings.create(model="all-minilm-l6-v2", input="hi").data[0].embedding) == 384
    bad = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-" + "z" * 40, max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="Invalid API key"):
        bad.embeddings.create(model="all-minilm-l6-v2", input="hi")


def test_admin_commands_send_the_key(server: ServerProcess) -> None:
    refused = aiserve("models", "unload", "efficientnet-lite0", "--url", server.url, env={"AISERVE_API_KEY": ""})
    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: Invalid API key: pass --api-key or set AISERVE_API_KEY."
    done = aiserve("models", "load", "efficientnet-lite0", "--url", server.url, "--api-key", ADMIN)
    assert done.returncode == 0, done.stderr
    assert "loaded: efficientnet-lite0" in done.stdout


def test_no_key_appears_in_the_logs(server: ServerProcess) -> None:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=ADMIN, max_retries=0)
    client.models.list()
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-wrong-" + "q" * 30, max_retries=0).models.list()
    text = server.log_path.read_text()  # type: ignore[attr-defined]
    assert "/v1/models" in text  # the access log is there
    assert ADMIN not in text
    assert ADMIN[3:] not in text
    assert "q" * 30 not in text


def test_aiserve_usage_shows_the_callers_numbers(server: ServerProcess) -> None:
    def report() -> dict[str, Any]:
        shown = aiserve("usage", "--url", server.url, "--api-key", ADMIN, "--json")
        assert shown.returncode == 0, shown.stderr
        body: dict[str, Any] = json.loads(shown.stdout)
        return body

    before = report()
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=ADMIN, max_retries=0)
    client.embeddings.create(model="all-minilm-l6-v2", input=["one", "two"])
    deadline = time.monotonic() + 10
    while (after := report())["total_requests"] == before["total_requests"]:
        assert time.monotonic() < deadline, "the request never reached the ledger"
        time.sleep(0.2)
    assert after["total_requests"] == before["total_requests"] + 1
    assert after["input_tokens"] == before["input_tokens"] + 6
    assert after["user"] == "admin"
    table = aiserve("usage", "--url", server.url, "--api-key", ADMIN)
    assert "usage of admin" in table.stdout
    assert "by model" in table.stdout
    assert "minilm" in table.stdout
    wrong = aiserve("usage", "--url", server.url, "--api-key", "sk-" + "n" * 40)
    assert wrong.stderr.strip() == "error: Invalid API key: pass --api-key or set AISERVE_API_KEY."
