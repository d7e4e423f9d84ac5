"""`/v2/classify` coexists with `/v1/classify`: several images, per-image errors, model version and timings."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import skimage
from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

DATA = Path(skimage.__file__).parent / "data"


def b64(name: str) -> str:
    return base64.b64encode((DATA / name).read_bytes()).decode()


def test_several_images_with_a_bad_one_in_the_middle(client: TestClient) -> None:
    images = [b64("coffee.png"), "bm90IGFuIGltYWdl", "data:image/png;base64," + b64("chelsea.png")]
    response = client.post("/v2/classify", json={"images": images, "top_k": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == {"id": "efficientnet-lite0", "version": "1"}
    first, bad, cat = body["results"]
    assert [first["index"], bad["index"], cat["index"]] == [0, 1, 2]
    assert first["predictions"][0]["label"] == "espresso"
    assert len(first["predictions"]) == 3
    assert first["error"] is None
    assert bad["predictions"] is None
    assert bad["error"]["code"] == "invalid_input"
    assert bad["error"]["message"].startswith("Invalid image")
    assert cat["predictions"][0]["label"] in {"tabby", "tiger cat", "Egyptian cat"}
    timing = body["timing"]
    assert timing["total_ms"] >= timing["inference_ms"] > 0
    assert timing["queue_ms"] >= 0


def test_v1_and_v2_answer_the_same_image_alike(client: TestClient) -> None:
    v1 = client.post("/v1/classify", json={"image": b64("coffee.png")}).json()
    v2 = client.post("/v2/classify", json={"images": [b64("coffee.png")]}).json()
    assert set(v1) == {"model", "predictions"}
    assert v2["results"][0]["predictions"] == v1["predictions"]


@pytest.mark.parametrize("count", [0, 65])
def test_image_count_is_bounded(client: TestClient, count: int) -> None:
    response = client.post("/v2/classify", json={"images": ["aGk="] * count})
    assert response.status_code == 422
    assert response.json()["error"]["param"] == "images"
