"""`/v1/classify` and `/v1/inspect` on real photos from scikit-image's data folder, with EfficientNet-Lite0."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
import skimage
from fastapi.testclient import TestClient
from PIL import Image

pytestmark = pytest.mark.integration

PHOTOS = Path(skimage.__file__).parent / "data"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def encode(image: Image.Image, fmt: str, **save: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def top(client: TestClient, data: bytes, **extra: object) -> list[dict[str, object]]:
    response = client.post("/v1/classify", json={"image": b64(data), **extra})
    assert response.status_code == 200, response.text
    predictions: list[dict[str, object]] = response.json()["predictions"]
    return predictions


@pytest.fixture(scope="module")
def coffee() -> Image.Image:
    return Image.open(PHOTOS / "coffee.png").convert("RGB")


def test_coffee_is_espresso_in_the_course_shape(client: TestClient) -> None:
    response = client.post("/v1/classify", json={"image": b64((PHOTOS / "coffee.png").read_bytes())})
    body = response.json()
    assert set(body) == {"model", "predictions"}
    assert body["model"] == "efficientnet-lite0"
    predictions = body["predictions"]
    assert len(predictions) == 5
    assert predictions[0]["label"] == "espresso"
    assert predictions[0]["confidence"] > 0.8
    confidences = [p["confidence"] for p in predictions]
    assert confidences == sorted(confidences, reverse=True)
    assert sum(confidences) <= 1.0
    assert all(round(c, 4) == c for c in confidences)


@pytest.mark.parametrize(
    ("photo", "expected"),
    [
        ("chelsea.png", {"tabby", "tiger cat", "Egyptian cat"}),
        ("rocket.jpg", {"missile", "projectile", "space shuttle"}),
        ("motorcycle_left.png", {"moped", "motor scooter"}),
    ],
)
def test_bundled_photos_are_classified_sensibly(client: TestClient, photo: str, expected: set[str]) -> None:
    labels = [p["label"] for p in top(client, (PHOTOS / photo).read_bytes())[:3]]
    assert labels[0] in expected
    assert set(labels) & expected


def test_data_url_multipart_and_top_k(client: TestClient) -> None:
    data = (PHOTOS / "coffee.png").read_bytes()
    url = client.post("/v1/classify", json={"image": "data:image/png;base64," + b64(data), "top_k": 3})
    assert [p["label"] for p in url.json()["predictions"]][:1] == ["espresso"]
    assert len(url.json()["predictions"]) == 3
    form = client.post("/v1/classify", files={"file": ("coffee.png", data, "image/png")}, data={"top_k": "2"})
    assert form.status_code == 200, form.text
    assert [p["label"] for p in form.json()["predictions"]] == ["espresso", "cup"]


def test_model_by_alias_and_wrong_task(client: TestClient) -> None:
    data = b64((PHOTOS / "coffee.png").read_bytes())
    assert client.post("/v1/classify", json={"image": data, "model": "imagenet"}).status_code == 200
    wrong = client.post("/v1/classify", json={"image": data, "model": "all-minilm-l6-v2"})
    assert wrong.status_code == 400
    assert "not an image classifier" in wrong.json()["error"]["message"]
    assert client.post("/v1/classify", json={"image": data, "model": "resnet-9000"}).status_code == 404


@pytest.mark.parametrize(
    ("fmt", "mode", "save"),
    [
        ("JPEG", "RGB", {"quality": 90}),
        ("WEBP", "RGB", {"quality": 90}),
        ("BMP", "RGB", {}),
        ("PNG", "RGBA", {}),
        ("JPEG", "CMYK", {"quality": 95}),
        ("GIF", "P", {}),
    ],
)
def test_formats_and_modes_keep_the_answer(
    client: TestClient, coffee: Image.Image, fmt: str, mode: str, save: dict[str, object]
) -> None:
    image = coffee.convert(mode) if mode != "P" else coffee.quantize(256)
    assert top(client, encode(image, fmt, **save))[0]["label"] == "espresso"


def test_grey_and_16_bit_images_are_accepted(client: TestClient, coffee: Image.Image) -> None:
    grey = coffee.convert("L")
    assert len(top(client, encode(grey, "PNG"))) == 5
    sixteen = Image.fromarray(np.asarray(grey).astype(np.uint16) * 257)  # 0..65535
    assert sixteen.mode == "I;16"
    assert top(client, encode(sixteen, "PNG")) == top(client, encode(grey, "PNG"))


def test_exif_orientation_is_applied(client: TestClient, coffee: Image.Image) -> None:
    upright = top(client, encode(coffee, "PNG"))
    stored = coffee.transpose(Image.Transpose.ROTATE_90)  # as a camera held sideways stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    assert top(client, encode(stored, "PNG", exif=exif)) == upright
    assert top(client, encode(stored, "PNG")) != upright


def test_transparent_palette_and_first_gif_frame(client: TestClient, coffee: Image.Image) -> None:
    frames = [coffee.quantize(256), Image.new("RGB", coffee.size, (0, 0, 0)).quantize(2)]
    animated = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert top(client, animated)[0]["label"] == "espresso"
    transparent = coffee.quantize(255)
    transparent.info["transparency"] = 0
    assert len(top(client, encode(transparent, "PNG"))) == 5


def test_inspect_reports_format_size_and_mode(client: TestClient, coffee: Image.Image) -> None:
    for fmt, mode in (("PNG", "RGB"), ("JPEG", "L"), ("GIF", "P"), ("WEBP", "RGB")):
        image = coffee.quantize(64) if mode == "P" else coffee.convert(mode)
        response = client.post("/v1/inspect", json={"image": b64(encode(image, fmt))})
        assert response.json() == {"format": fmt, "size": [600, 400], "mode": mode}
    form = client.post("/v1/inspect", files={"file": ("c.png", encode(coffee, "PNG"), "image/png")})
    assert form.json()["format"] == "PNG"
