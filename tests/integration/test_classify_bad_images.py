"""Hostile and broken images: each gets a clear 4xx, nothing large is allocated, and the server stays healthy."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from pathlib import Path

import pytest
import skimage
from fastapi.testclient import TestClient
from PIL import Image

from tests.conftest import MakeSettings
from tests.integration.conftest import running_app

pytestmark = pytest.mark.integration

COFFEE = (Path(skimage.__file__).parent / "data" / "coffee.png").read_bytes()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims `width`×`height` pixels in a few bytes: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def as_json(data: bytes) -> dict[str, str]:
    return {"image": base64.b64encode(data).decode()}


CORPUS = {
    "truncated png": (as_json(COFFEE[: len(COFFEE) // 2]), 400, "truncated or corrupt"),
    "truncated jpeg": (as_json(encode(Image.open(io.BytesIO(COFFEE)), "JPEG")[:3000]), 400, "truncated or corrupt"),
    "bomb": (as_json(png_header_only(100_000, 100_000)), 413, "limit of"),
    "moderate bomb": (as_json(png_header_only(8_000, 8_000)), 413, "over the limit of"),
    "wrong base64": ({"image": "this is not base64!"}, 400, "not valid base64"),
    "bad data url": ({"image": "data:image/png,rawbytes"}, 400, "data URL"),
    "text posing as image": (as_json(b"\x89PNG\r\n\x1a\n honestly, I am a picture"), 400, "Invalid image"),
    "plain text": (as_json(b"hello, world\n" * 20), 400, "not a recognised image"),
    "zero bytes": ({"image": "data:image/png;base64,"}, 400, "empty"),
    "tiff": (as_json(encode(Image.new("RGB", (8, 8)), "TIFF")), 400, "TIFF is not accepted"),
}


@pytest.mark.parametrize("case", list(CORPUS))
@pytest.mark.parametrize("route", ["/v1/classify", "/v1/inspect"])
def test_bad_image_gets_a_clear_error(client: TestClient, case: str, route: str) -> None:
    body, status, fragment = CORPUS[case]
    response = client.post(route, json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"].startswith("Invalid image")
    assert fragment in error["message"]
    assert error["param"] == "image"


@pytest.mark.parametrize("size", [(1, 1), (10_000, 10), (10, 10_000), (3, 2)])
def test_odd_but_valid_shapes_are_classified(client: TestClient, size: tuple[int, int]) -> None:
    response = client.post("/v1/classify", json=as_json(encode(Image.new("RGB", size, (200, 40, 40)), "PNG")))
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 5


def test_schema_errors_and_multipart_mistakes(client: TestClient) -> None:
    assert client.post("/v1/classify", json={"image": ""}).status_code == 422
    assert client.post("/v1/classify", json={"picture": "x"}).status_code == 422
    assert client.post("/v1/classify", json={"image": base64.b64encode(COFFEE).decode(), "top_k": 0}).status_code == 422
    assert (
        client.post("/v1/classify", json={"image": base64.b64encode(COFFEE).decode(), "top_k": 21}).status_code == 422
    )
    wrong_field = client.post("/v1/classify", files={"photo": ("c.png", COFFEE, "image/png")})
    assert wrong_field.status_code == 400
    assert "'file'" in wrong_field.json()["error"]["message"]
    empty = client.post("/v1/classify", files={"file": ("c.png", b"", "image/png")})
    assert empty.status_code == 400
    malformed = client.post("/v1/classify", content=b"--x\r\nnonsense", headers={"content-type": "multipart/form-data"})
    assert malformed.status_code == 400


def test_server_is_healthy_after_the_corpus(client: TestClient) -> None:
    for body, _, _ in CORPUS.values():
        client.post("/v1/classify", json=body)
    assert client.get("/health").status_code == 200
    ok = client.post("/v1/classify", json=as_json(COFFEE))
    assert ok.json()["predictions"][0]["label"] == "espresso"


def test_pixel_limit_is_a_setting(make_settings: MakeSettings) -> None:
    settings = make_settings(models={"classification": {"max_image_pixels": 100_000}})
    with running_app(settings) as client:
        too_big = client.post("/v1/classify", json=as_json(COFFEE))  # 600×400 = 240,000 pixels
        assert too_big.status_code == 413
        assert "240000 pixels" in too_big.json()["error"]["message"]
        small = encode(Image.open(io.BytesIO(COFFEE)).resize((300, 200)), "PNG")
        assert client.post("/v1/classify", json=as_json(small)).status_code == 200
