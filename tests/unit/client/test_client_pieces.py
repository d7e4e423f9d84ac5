"""The SDK's pure parts: where settings come from, which failures are retried and how long it waits, how error
bodies become exceptions, and how server-sent events are read."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiserve.client import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    Client,
    InternalServerError,
    OverloadedError,
    RateLimitError,
)
from aiserve.client.base import DONE, SSEDecoder
from aiserve.client.calls import image_bytes
from aiserve.client.errors import error_for, stream_error
from aiserve.client.retry import retry_delay
from aiserve.protocol.chat import ChatCompletionChunk

pytestmark = pytest.mark.unit


def body(message: str, code: str | None = None, type_: str = "invalid_request_error") -> dict[str, object]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def test_arguments_beat_the_environment_which_beats_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("AISERVE_BASE_URL=http://from-dotenv:1\nAISERVE_API_KEY=sk-dotenv\n")
    with Client() as client:
        assert (client.base_url, client.api_key, client.timeout) == ("http://from-dotenv:1", "sk-dotenv", 30.0)
    monkeypatch.setenv("AISERVE_BASE_URL", "http://from-env:2/")
    with Client() as client:
        assert (client.base_url, client.api_key) == ("http://from-env:2", "sk-dotenv")
    with Client(base_url="http://given:3", api_key="sk-given", timeout=5) as client:
        assert (client.base_url, client.api_key, client.timeout) == ("http://given:3", "sk-given", 5)


def test_error_bodies_become_their_classes() -> None:
    headers = {"retry-after": "7", "x-request-id": "abc"}
    limited = error_for(429, body("slow down", "rate_limit_exceeded", "requests"), headers)
    assert isinstance(limited, RateLimitError)
    assert (limited.retry_after, limited.code, limited.request_id) == (7.0, "rate_limit_exceeded", "abc")
    assert limited.message == "slow down"
    assert isinstance(error_for(401, body("Invalid API key"), {}), AuthenticationError)
    assert isinstance(error_for(413, body("too big"), {}), BadRequestError)
    assert isinstance(error_for(422, {"detail": "x"}, {}), BadRequestError)
    assert isinstance(error_for(503, body("busy"), {"retry-after": "2"}), OverloadedError)
    assert isinstance(error_for(504, body("deadline"), {}), APITimeoutError)
    assert isinstance(error_for(502, "<html>bad gateway</html>", {}), InternalServerError)
    assert error_for(502, "<html>", {}).message == "The server answered 502."
    assert isinstance(stream_error(body("deadline", "deadline_exceeded", "timeout_error")), APITimeoutError)


@pytest.mark.parametrize(
    ("error", "attempt", "low", "high"),
    [
        (APIConnectionError("refused"), 0, 0.375, 0.5),
        (APIConnectionError("refused"), 3, 3.0, 4.0),
        (APIConnectionError("refused"), 10, 6.0, 8.0),  # capped
        (error_for(503, body("busy"), {"retry-after": "2"}), 0, 2.0, 2.0),  # the server's word
        (error_for(429, body("slow", "rate_limit_exceeded"), {"retry-after": "1"}), 1, 1.0, 1.0),
        (error_for(500, body("oops"), {}), 0, 0.375, 0.5),
        (error_for(408, body("timeout"), {}), 0, 0.375, 0.5),
    ],
)
def test_retryable_failures_wait(error: APIError, attempt: int, low: float, high: float) -> None:
    delay = retry_delay(attempt, error)
    assert delay is not None
    assert low <= delay <= high


def test_final_failures_are_not_retried() -> None:
    assert retry_delay(0, error_for(400, body("bad"), {})) is None
    assert retry_delay(0, error_for(401, body("key"), {})) is None
    assert retry_delay(0, error_for(429, body("spent", "insufficient_quota"), {"retry-after": "5"})) is None
    assert retry_delay(0, error_for(429, body("slow", "rate_limit_exceeded"), {"retry-after": "3600"})) is None
    assert (
        retry_delay(0, error_for(429, body("slow", "rate_limit_exceeded"), {"retry-after": "30"}), max_wait=5) is None
    )


def test_server_sent_events_are_read_and_an_early_end_is_an_error() -> None:
    decoder = SSEDecoder(ChatCompletionChunk)
    chunk = '{"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [{"index": 0, ' \
            '"delta": {"content": "Hi"}}]}'  # fmt: skip
    assert decoder.feed("") is None
    assert decoder.feed(": comment") is None
    read = decoder.feed(f"data: {chunk}")
    assert isinstance(read, ChatCompletionChunk)
    assert read.choices[0].delta.content == "Hi"
    with pytest.raises(APIConnectionError, match="before the answer was complete"):
        decoder.check_finished()
    assert decoder.feed("data: [DONE]") is DONE
    decoder.check_finished()
    with pytest.raises(APITimeoutError, match="deadline"):
        SSEDecoder(ChatCompletionChunk).feed('data: {"error": {"message": "deadline", "type": "timeout_error"}}')


def test_images_come_as_paths_bytes_files_or_pil_images(tmp_path: Path) -> None:
    from PIL import Image

    picture = Image.new("RGB", (4, 4), (1, 2, 3))
    path = tmp_path / "p.png"
    picture.save(path)
    assert image_bytes(path) == image_bytes(str(path)) == path.read_bytes()
    with path.open("rb") as handle:
        assert image_bytes(handle) == path.read_bytes()
    assert image_bytes(picture).startswith(b"\x89PNG")
    with pytest.raises(TypeError, match="an image is a path"):
        image_bytes(42)
