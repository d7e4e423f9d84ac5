"""Images in chat, on the real models: a text-only chat model is told what the vision model (the ImageNet classifier,
or another classifier) saw, the answer names that model, the images count in the ledger, and every way to send a
bad image is a 4xx naming the part at fault while the server answers on."""

from __future__ import annotations

import base64
import io
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import skimage
from fastapi.testclient import TestClient
from PIL import Image

from tests.conftest import MakeSettings
from tests.integration.conftest import running_app
from tests.integration.test_classify_bad_images import png_header_only

pytestmark = pytest.mark.integration

CHAT = "smollm2-135m-instruct"
COFFEE = Path(skimage.__file__).parent / "data" / "coffee.png"
ADMIN = "sk-test-images-" + "e" * 32


def jpeg(path: Path = COFFEE, size: int = 256) -> bytes:
    image = Image.open(path).convert("RGB")
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return buffer.getvalue()


def data_url(data: bytes, kind: str = "image/jpeg") -> str:
    return f"data:{kind};base64," + base64.b64encode(data).decode()


def asking(*parts: dict[str, Any], **fields: Any) -> dict[str, Any]:
    content = [{"type": "text", "text": "What is in this image?"}, *parts]
    return {"model": CHAT, "temperature": 0, "max_tokens": 40, "messages": [{"role": "user", "content": content}],
            **fields}  # fmt: skip


def image_part(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url, **extra}}


@pytest.fixture(scope="module")
def client(make_settings: MakeSettings) -> Iterator[TestClient]:
    settings = make_settings(models={"enabled": ["efficientnet-lite0", CHAT, "all-minilm-l6-v2"]})
    with running_app(settings) as c:
        yield c


def test_the_vision_model_sees_the_photo_and_is_named(client: TestClient) -> None:
    answer = client.post("/v1/chat/completions", json=asking(image_part(data_url(jpeg()), detail="low")))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["vision_model"] == answer.headers["x-vision-model"] == "efficientnet-lite0@1"
    text = body["choices"][0]["message"]["content"].lower()
    assert "coffee" in text or "espresso" in text, text
    plain = client.post("/v1/chat/completions", json=asking()).json()
    assert "vision_model" not in plain  # no image, no vision model
    assert body["usage"]["prompt_tokens"] > plain["usage"]["prompt_tokens"]  # the description is in the prompt


def test_streamed_answers_name_the_vision_model_first(client: TestClient) -> None:
    with client.stream("POST", "/v1/chat/completions", json=asking(image_part(data_url(jpeg())), stream=True)) as out:
        assert out.status_code == 200
        assert out.headers["x-vision-model"] == "efficientnet-lite0@1"
        first = next(line for line in out.iter_lines() if line.startswith("data: "))
    assert '"vision_model":"efficientnet-lite0@1"' in first


def test_every_image_is_seen(client: TestClient) -> None:
    chelsea = Path(skimage.__file__).parent / "data" / "chelsea.png"
    one = client.post("/v1/chat/completions", json=asking(image_part(data_url(jpeg()))) | {"max_tokens": 1})
    two = asking(image_part(data_url(jpeg())), image_part(data_url(jpeg(chelsea)))) | {"max_tokens": 1}
    both = client.post("/v1/chat/completions", json=two)
    assert both.status_code == 200, both.text
    assert both.json()["usage"]["prompt_tokens"] > one.json()["usage"]["prompt_tokens"] + 10


HOSTILE: dict[str, tuple[Any, int, str, str]] = {
    "not base64": (asking(image_part("data:image/png;base64,!!!!")), 400, "content[1].image_url", "base64"),
    "not an image": (
        asking(image_part(data_url(b"GIF89a but not really"))),
        400,
        "content[1].image_url",
        "not a recognised image",
    ),
    "a bomb": (asking(image_part(data_url(png_header_only(100_000, 100_000)))), 413, "content[1].image_url", "limit"),
    "not a data URL": (asking(image_part("file:///etc/passwd")), 400, "content[1].image_url", "data URL"),
    "fetching off": (asking(image_part("http://example.com/cat.jpg")), 400, "content[1].image_url", "not fetched"),
    "an image from the assistant": (
        {
            "model": CHAT,
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [image_part(data_url(jpeg()))]},
            ],
        },
        400,
        "messages.1",
        "only a user",
    ),
    "an audio part": (
        asking({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}),
        400,
        "messages.0.content.1",
        "input_audio",
    ),
    "an unknown detail": (asking(image_part(data_url(jpeg()), detail="ultra")), 400, "detail", "'low' or 'high'"),
    "an unknown field": (asking(image_part(data_url(jpeg()), size=3)), 400, "size", "not a field"),
    "nine images": (asking(*[image_part(data_url(jpeg(size=32)))] * 9), 400, "content[9].image_url", "limit is 8"),
    "an empty URL": (asking(image_part("")), 400, "url", "at least 1"),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_bad_images_are_refused_naming_the_part(client: TestClient, case: str) -> None:
    body, status, param, message = HOSTILE[case]
    refused = client.post("/v1/chat/completions", json=body)
    assert refused.status_code == status, refused.text
    error = refused.json()["error"]
    assert param in (error["param"] or ""), error
    assert message in error["message"], error
    assert client.get("/health").status_code == 200


def test_an_image_over_the_byte_limit_is_413(make_settings: MakeSettings) -> None:
    settings = make_settings(models={"enabled": ["efficientnet-lite0", CHAT], "chat": {"images": {"max_bytes": 1000}}})
    with running_app(settings) as client:
        refused = client.post("/v1/chat/completions", json=asking(image_part(data_url(jpeg()))))
    assert refused.status_code == 413
    assert refused.json()["error"]["param"] == "messages[0].content[1].image_url"


def test_without_a_vision_model_images_are_refused(make_settings: MakeSettings) -> None:
    for vision, message in ((None, "no vision model"), ("all-minilm-l6-v2", "not an image classifier")):
        settings = make_settings(models={"enabled": ["all-minilm-l6-v2", CHAT],
                                         "chat": {"images": {"vision_model": vision}}})  # fmt: skip
        with running_app(settings) as client:
            refused = client.post("/v1/chat/completions", json=asking(image_part(data_url(jpeg()))))
            assert refused.status_code == 400
            assert message in refused.json()["error"]["message"]
            assert client.post("/v1/chat/completions", json=asking()).status_code == 200  # text still answered


@pytest.fixture
def image_host() -> Iterator[str]:
    """A web server on loopback serving the coffee photo at /coffee.jpg."""
    photo = jpeg()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(photo)))
            self.end_headers()
            self.wfile.write(photo)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/coffee.jpg"
    server.shutdown()
    server.server_close()


def test_fetched_images_only_when_allowed_and_never_from_private_addresses(
    make_settings: MakeSettings, image_host: str
) -> None:
    fetching = {"fetch": True}
    settings = make_settings(models={"enabled": ["efficientnet-lite0", CHAT], "chat": {"images": fetching}})
    with running_app(settings) as client:
        refused = client.post("/v1/chat/completions", json=asking(image_part(image_host)))
        assert refused.status_code == 400
        assert "not public" in refused.json()["error"]["message"] or "private" in refused.json()["error"]["message"]
    fetching["fetch_private"] = True  # an operator's own image store on its own network
    settings = make_settings(models={"enabled": ["efficientnet-lite0", CHAT], "chat": {"images": fetching}})
    with running_app(settings) as client:
        fetched = client.post("/v1/chat/completions", json=asking(image_part(image_host)))
        assert fetched.status_code == 200, fetched.text
        assert fetched.json()["vision_model"] == "efficientnet-lite0@1"


def test_images_count_in_the_ledger_and_against_token_limits(
    make_settings: MakeSettings, tmp_path: Path, data_dir: Path
) -> None:
    (tmp_path / "models").symlink_to(data_dir / "models")
    settings = make_settings(data_dir=tmp_path, models={"enabled": ["efficientnet-lite0", CHAT]},
                             auth={"enabled": True, "bootstrap_key": ADMIN, "cache_s": 0})  # fmt: skip
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with running_app(settings) as client:
        client.post("/v1/admin/users", json={"name": "viewer"}, headers=admin)
        made = client.post("/v1/admin/keys", json={"user": "viewer", "limits": {"tokens_per_minute": 1500}},
                           headers=admin)  # fmt: skip
        mine = {"Authorization": f"Bearer {made.json()['key']}"}
        two = asking(image_part(data_url(jpeg())), image_part(data_url(jpeg(size=64))))
        assert client.post("/v1/chat/completions", json=two, headers=mine).status_code == 200
        deadline = time.monotonic() + 10
        while (usage := client.get("/v1/usage", headers=mine).json())["total_requests"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert usage["images"] == 2
        assert usage["by_model"][0]["model"] == "smollm2-135m-instruct@1"
        # 8 images, each with up to 128 tokens of description and 85 tokens of its own, can never fit a 1500-token
        # minute: refused before any image is seen
        many = asking(*[image_part(data_url(jpeg(size=16)))] * 8)
        refused = client.post("/v1/chat/completions", json=many, headers=mine)
        assert refused.status_code == 400, refused.text
        assert "more than this API key may use in a minute" in refused.json()["error"]["message"]
        window = asking(image_part(data_url(jpeg()))) | {"max_tokens": 4000}
        refused = client.post("/v1/chat/completions", json=window, headers=mine)
        assert refused.json()["error"]["param"] == "max_tokens"
