"""Clients written for commercial AI services, against a server with keys and limits: the official `openai`
package (text completions, its error classes for 401, 404 and 400, and its own retry of a 429 that succeeds
once the slot frees) and a course-style client on plain `requests` (base64 JSON with a Bearer key, SSE from
`/v1/chat/stream`, and its 401 and 429 branches)."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import requests
import skimage

from aiserve.bench.server import ServerProcess

pytestmark = pytest.mark.e2e

ADMIN = "sk-compat-admin-" + "k" * 32
CHAT = "smollm2-135m-instruct"
COFFEE = Path(skimage.__file__).parent / "data" / "coffee.png"


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("compat")
    (home / "models").symlink_to(data_dir / "models")
    with ServerProcess(["--data-dir", str(home)], api_key=ADMIN) as proc:
        yield proc


def new_key(server: ServerProcess, user: str, **limits: int) -> str:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    assert httpx.post(f"{server.url}/v1/admin/users", json={"name": user}, headers=admin).status_code == 201
    made = httpx.post(f"{server.url}/v1/admin/keys", json={"user": user, "limits": limits}, headers=admin)
    return str(made.json()["key"])


def test_openai_text_completions_and_error_classes(server: ServerProcess) -> None:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=ADMIN, max_retries=0)
    stranger = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-" + "n" * 40, max_retries=0)
    whole = client.completions.create(model=CHAT, prompt="One, two, three,", max_tokens=8, temperature=0)
    pieces = client.completions.create(model=CHAT, prompt="One, two, three,", max_tokens=8, temperature=0,
                                       stream=True)  # fmt: skip
    assert "".join(chunk.choices[0].text for chunk in pieces if chunk.choices) == whole.choices[0].text
    assert whole.usage is not None
    assert whole.usage.completion_tokens > 0
    with pytest.raises(openai.AuthenticationError):
        stranger.models.list()
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="all-minilm-l6-v2", input=[])
    with pytest.raises(openai.BadRequestError) as out_of_range:  # as OpenAI answers it
        client.chat.completions.create(model=CHAT, messages=[{"role": "user", "content": "hi"}], temperature=5)
    assert out_of_range.value.param == "temperature"
    client.close()
    stranger.close()


def test_openai_retries_a_429_until_the_slot_frees(server: ServerProcess) -> None:
    key = new_key(server, "one-at-a-time", max_concurrent=1)
    story = [{"role": "user", "content": "Write a very long story about a dragon who learns to cook."}]
    holder = httpx.Client(timeout=600)
    body = {"model": CHAT, "messages": story, "max_tokens": 400, "stream": True}
    with holder.stream("POST", f"{server.url}/v1/chat/completions", json=body,
                       headers={"Authorization": f"Bearer {key}"}) as held:  # fmt: skip
        lines = held.iter_lines()
        assert next(lines).startswith("data: ")
        answers: list[Any] = []

        def patient() -> None:
            with openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=5) as client:
                answers.append(client.embeddings.create(model="all-minilm-l6-v2", input="hi", encoding_format="float"))

        waiting = threading.Thread(target=patient)
        waiting.start()
        time.sleep(1.5)  # long enough for its first try to be refused with Retry-After: 1
        assert not answers
    holder.close()  # the slot is free: its next try gets through
    waiting.join(30)
    assert len(answers[0].data[0].embedding) == 384


def test_course_style_requests_client(server: ServerProcess) -> None:
    key = new_key(server, "student", requests_per_minute=2)
    image = base64.b64encode(COFFEE.read_bytes()).decode()

    def classify(bearer: str) -> str:
        response = requests.post(f"{server.url}/v1/classify", json={"image": image},
                                 headers={"Authorization": f"Bearer {bearer}"}, timeout=600)  # fmt: skip
        if response.status_code == 401:
            return "please check your API key"
        if response.status_code == 429:
            return f"slow down: retry in {response.headers['Retry-After']} s"
        response.raise_for_status()
        return str(response.json()["predictions"][0]["label"])

    assert classify("sk-" + "z" * 40) == "please check your API key"
    assert classify(key) == "espresso"
    with requests.post(f"{server.url}/v1/chat/stream", json={"message": "Say hello.", "max_tokens": 8},
                       headers={"Authorization": f"Bearer {key}"}, stream=True, timeout=600) as response:  # fmt: skip
        assert response.status_code == 200
        events = [line.decode() for line in response.iter_lines() if line.startswith(b"data:")]
    assert events[-1] == "data: [DONE]"
    assert len(events) > 1
    assert classify(key).startswith("slow down: retry in ")
