"""`/`, `/health`, `/ready`, `/v1/models`."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from aiserve.app import create_app
from tests.conftest import MakeSettings

pytestmark = pytest.mark.integration


def test_welcome_and_liveness(client: TestClient) -> None:
    assert "Welcome" in client.get("/").json()["message"]
    assert client.get("/health").json() == {"status": "ok"}


def test_ready_lists_model_states(client: TestClient) -> None:
    assert client.get("/ready").json() == {
        "status": "ready",
        "models": {
            "all-minilm-l6-v2": "ready",
            "efficientnet-lite0": "ready",
            "smollm2-135m-instruct": "ready",
            "minilm-rerank": "ready",
        },
    }


def test_ready_is_503_until_models_load_and_when_they_fail(make_settings: MakeSettings, tmp_path: object) -> None:
    # prepare_on_start off and an empty data dir: the model cannot load, so the server is live but never ready
    settings = make_settings(data_dir=tmp_path, models={"prepare_on_start": False})
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        for _ in range(200):
            response = client.get("/ready")
            if response.json()["error"]["message"].startswith("Models failed"):
                break
        assert response.status_code == 503
        assert int(response.headers["retry-after"]) >= 1
        assert response.json()["error"]["code"] == "model_not_ready"
        assert client.get("/v1/models").json()["data"][0]["status"] == "failed"
        embed = client.post("/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": "x"})
        assert embed.status_code == 503
        assert "retry-after" in embed.headers


def test_models_list_in_openai_shape(client: TestClient) -> None:
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    assert [c["id"] for c in body["data"]] == [
        "all-minilm-l6-v2",
        "efficientnet-lite0",
        "smollm2-135m-instruct",
        "minilm-rerank",
    ]
    card = body["data"][0]
    assert card["id"] == "all-minilm-l6-v2"
    assert card["object"] == "model"
    assert isinstance(card["created"], int)
    assert card["owned_by"] == "aiserve"
    assert card["task"] == "embeddings"
    assert card["status"] == "ready"
    assert card["dimensions"] == 384
    assert card["max_input_tokens"] == 256
    assert card["runtime"] == "onnxruntime"


def test_model_by_alias_with_a_slash(client: TestClient) -> None:
    card = client.get("/v1/models/sentence-transformers/all-MiniLM-L6-v2").json()
    assert card["id"] == "all-minilm-l6-v2"
    assert client.get("/v1/models/nope").status_code == 404


def test_openapi_lists_the_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/v1/embeddings", "/v1/models", "/health", "/ready"} <= set(spec["paths"])
    assert spec["paths"]["/v1/embeddings"]["post"]["operationId"] == "embeddings-create"
