"""Bad input gets a clear 4xx in the one error envelope, and the server stays up."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import MakeSettings
from tests.integration.conftest import running_app

pytestmark = pytest.mark.integration

MODEL = "all-minilm-l6-v2"


def assert_envelope(response: Any, status: int, code: str | None = None) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str)
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return body


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"model": MODEL, "input": []}, "empty list"),
        ({"model": MODEL, "input": ["ok", ""]}, "input[1] is empty"),
        ({"model": MODEL, "input": "   "}, "input[0] is empty"),
        ({"model": MODEL, "input": [101, 2023, 102]}, "token ids"),
        ({"model": MODEL, "input": [[101, 102]]}, "token ids"),
        ({"model": MODEL, "input": "x", "dimensions": 128}, "'dimensions' must be 384"),
    ],
)
def test_bad_input_is_400_with_a_message(client: TestClient, payload: dict[str, object], fragment: str) -> None:
    body = assert_envelope(client.post("/v1/embeddings", json=payload), 400, "invalid_input")
    assert fragment in body["error"]["message"]


def test_malformed_json_is_400(client: TestClient) -> None:
    response = client.post(
        "/v1/embeddings", content=b'{"model": "x", "input": ', headers={"content-type": "application/json"}
    )
    body = assert_envelope(response, 400, "invalid_json")
    assert "not valid JSON" in body["error"]["message"]


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"input": "no model"}, "model"),
        ({"model": MODEL}, "input"),
        ({"model": MODEL, "input": 42}, "input"),
        ({"model": MODEL, "input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"model": 7, "input": "x"}, "model"),
    ],
)
def test_schema_violations_on_openai_routes_are_400_with_field_detail(
    client: TestClient, payload: dict[str, object], where: str
) -> None:
    """OpenAI's routes answer a body outside their schema with 400, as OpenAI does (the others with 422)."""
    body = assert_envelope(client.post("/v1/embeddings", json=payload), 400, "invalid_parameter")
    assert body["error"]["message"].startswith(where)
    locations = [tuple(d["loc"]) for d in body["detail"]]
    assert any(where in loc for loc in locations)


def test_unknown_model_is_404(client: TestClient) -> None:
    body = assert_envelope(client.post("/v1/embeddings", json={"model": "gpt-17", "input": "x"}), 404)
    assert body["error"] == {
        "message": "The model 'gpt-17' does not exist.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }


def test_unknown_route_and_wrong_method(client: TestClient) -> None:
    assert_envelope(client.get("/v1/nothing-here"), 404, "not_found")
    assert_envelope(client.get("/v1/embeddings"), 405, "method_not_allowed")


def test_too_many_inputs_is_400(make_settings: MakeSettings) -> None:
    with running_app(make_settings(models={"embeddings": {"max_inputs_per_request": 4}})) as client:
        body = assert_envelope(client.post("/v1/embeddings", json={"model": MODEL, "input": ["a"] * 5}), 400)
        assert "limit is 4" in body["error"]["message"]


def test_huge_body_is_413_and_server_stays_up(make_settings: MakeSettings) -> None:
    with running_app(make_settings(server={"max_body_bytes": 10_000})) as client:
        big = {"model": MODEL, "input": "word " * 5_000}
        assert_envelope(client.post("/v1/embeddings", json=big), 413, "payload_too_large")

        def chunks() -> Iterator[bytes]:
            yield b'{"model": "all-minilm-l6-v2", "input": "'
            for _ in range(100):
                yield b"x" * 1000
            yield b'"}'

        # no Content-Length: the limit is enforced while the body streams in
        streamed = client.post("/v1/embeddings", content=chunks(), headers={"content-type": "application/json"})
        assert_envelope(streamed, 413, "payload_too_large")
        assert client.post("/v1/embeddings", json={"model": MODEL, "input": "small"}).status_code == 200
