"""Versions, aliases, your own models from the catalogue, and hot load / unload on a running app."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import skimage
from fastapi.testclient import TestClient

from aiserve.registry.catalog import EFFICIENTNET_LITE0
from aiserve.registry.prepare import model_dir
from tests.conftest import MakeSettings
from tests.integration.conftest import ADMIN_AUTH, ADMIN_KEY, running_app

pytestmark = pytest.mark.integration

COFFEE = base64.b64encode((Path(skimage.__file__).parent / "data" / "coffee.png").read_bytes()).decode()


@pytest.fixture(scope="module")
def own_files(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's own classifier files: the EfficientNet export with the labels renamed."""
    folder = tmp_path_factory.mktemp("own")
    prepared = model_dir(data_dir / "models", EFFICIENTNET_LITE0)
    shutil.copy(prepared / "model.onnx", folder / "model.onnx")
    labels = json.loads((prepared / "labels.json").read_text())
    (folder / "labels.json").write_text(json.dumps([f"my {label}" for label in labels]))
    shutil.copy(prepared / "labels.json", folder / "imagenet.json")
    return folder


@pytest.fixture(scope="module")
def app(make_settings: MakeSettings, own_files: Path) -> Any:
    onnx, own_labels, labels = own_files / "model.onnx", own_files / "labels.json", own_files / "imagenet.json"
    catalog = [
        {
            "id": "efficientnet-lite0",
            "version": "2",
            "task": "classification",
            "backend": "onnx-classifier",
            "files": {"model.onnx": onnx, "labels.json": labels},
            "aliases": ["effnet-next"],
        },
        {
            "id": "my-classifier",
            "task": "classification",
            "backend": "onnx-classifier",
            "files": {"model.onnx": onnx, "labels.json": own_labels},
            "max_batch_size": 2,
            "device": "cpu",
        },
        {
            "id": "broken",
            "task": "classification",
            "backend": "onnx-classifier",
            "files": {"model.onnx": own_files / "missing.onnx", "labels.json": labels},
        },
    ]
    database = {"url": f"sqlite+aiosqlite:///{own_files / 'admin.db'}"}
    with running_app(
        make_settings(models={"catalog": catalog}, auth=ADMIN_AUTH, database=database), key=ADMIN_KEY
    ) as client:
        yield client


def classify(client: TestClient, model: str | None = None) -> dict[str, Any]:
    body = {"image": COFFEE, **({"model": model} if model else {})}
    response = client.post("/v1/classify", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def ids(client: TestClient) -> list[str]:
    return [card["id"] for card in client.get("/v1/models").json()["data"]]


def test_second_version_loads_beside_the_first_and_unloads(app: TestClient) -> None:
    assert ids(app) == ["all-minilm-l6-v2", "efficientnet-lite0", "smollm2-135m-instruct", "minilm-rerank"]
    loaded = app.post("/v1/admin/models/load", json={"model": "efficientnet-lite0@2"})
    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["id"] == "efficientnet-lite0@2"
    assert loaded.json()["version"] == "2"
    assert loaded.json()["status"] == "ready"
    assert ids(app) == [
        "all-minilm-l6-v2",
        "efficientnet-lite0",
        "smollm2-135m-instruct",
        "minilm-rerank",
        "efficientnet-lite0@2",
    ]

    assert classify(app)["model"] == "efficientnet-lite0"
    assert classify(app, "efficientnet-lite0@1")["model"] == "efficientnet-lite0"
    assert classify(app, "efficientnet-lite0@2")["model"] == "efficientnet-lite0@2"
    assert classify(app, "effnet-next")["model"] == "efficientnet-lite0@2"
    assert classify(app, "efficientnet-lite0@2")["predictions"] == classify(app)["predictions"]
    assert app.get("/ready").json()["models"]["efficientnet-lite0@2"] == "ready"

    unloaded = app.post("/v1/admin/models/unload", json={"model": "efficientnet-lite0@2"})
    assert unloaded.json()["status"] == "unloaded"
    assert app.post("/v1/classify", json={"image": COFFEE, "model": "efficientnet-lite0@2"}).status_code == 404
    assert classify(app)["model"] == "efficientnet-lite0"


def test_your_own_classifier_from_the_catalogue(app: TestClient) -> None:
    assert app.post("/v1/admin/models/load", json={"model": "my-classifier"}).status_code == 200
    assert classify(app, "my-classifier")["predictions"][0]["label"] == "my espresso"
    again = app.post("/v1/admin/models/load", json={"model": "my-classifier@1"})
    assert again.status_code == 200  # loading a loaded model is a no-op
    assert again.json()["device"] == "cpu"
    # its own batch limit of 2 holds even when six images arrive together
    results = app.post("/v2/classify", json={"images": [COFFEE] * 6, "model": "my-classifier"}).json()["results"]
    assert [r["predictions"][0]["label"] for r in results] == ["my espresso"] * 6
    metrics = app.get("/metrics").text
    count = re.search(r'^aiserve_batch_size_count\{model="my-classifier@1"\} (\S+)$', metrics, re.M)
    within = re.search(r'^aiserve_batch_size_bucket\{le="2.0",model="my-classifier@1"\} (\S+)$', metrics, re.M)
    assert count is not None
    assert within is not None
    assert float(within.group(1)) == float(count.group(1)) >= 3
    app.post("/v1/admin/models/unload", json={"model": "my-classifier"})


def test_a_failed_load_says_why_and_the_rest_keep_serving(app: TestClient) -> None:
    response = app.post("/v1/admin/models/load", json={"model": "broken"})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "model_load_failed"
    assert "missing.onnx" in response.json()["error"]["message"]
    card = app.get("/v1/models/broken").json()
    assert card["status"] == "failed"
    assert "does not exist" in card["error"]
    assert app.get("/ready").status_code == 200  # models loaded later do not take the server out of rotation
    assert classify(app)["predictions"][0]["label"] == "espresso"
    app.post("/v1/admin/models/unload", json={"model": "broken"})


def test_unloading_the_default_version_promotes_the_next(app: TestClient) -> None:
    app.post("/v1/admin/models/load", json={"model": "efficientnet-lite0@2"})
    app.post("/v1/admin/models/unload", json={"model": "efficientnet-lite0@1"})
    assert "efficientnet-lite0" in ids(app)
    assert app.get("/v1/models/efficientnet-lite0").json()["version"] == "2"
    assert classify(app)["model"] == "efficientnet-lite0"
    app.post("/v1/admin/models/load", json={"model": "efficientnet-lite0@1"})
    assert app.get("/v1/models/efficientnet-lite0@1").json()["id"] == "efficientnet-lite0@1"


def test_unknown_names_are_404(app: TestClient) -> None:
    for path, body in (("/v1/admin/models/load", {"model": "nope@3"}), ("/v1/admin/models/unload", {"model": "x"})):
        response = app.post(path, json=body)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "model_not_found"
