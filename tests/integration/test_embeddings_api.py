"""`/v1/embeddings` with the real all-MiniLM-L6-v2 model."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from fastapi.testclient import TestClient
from tokenizers import Tokenizer

from aiserve.registry.catalog import MINILM
from aiserve.registry.prepare import locate
from tests.conftest import MakeSettings
from tests.integration.conftest import running_app

pytestmark = pytest.mark.integration

MODEL = "all-minilm-l6-v2"


def embed(client: TestClient, texts: str | list[str], **extra: object) -> list[np.ndarray]:
    response = client.post("/v1/embeddings", json={"model": MODEL, "input": texts, **extra})
    assert response.status_code == 200, response.text
    return [np.asarray(d["embedding"], dtype=np.float32) for d in response.json()["data"]]


def test_single_string_gives_one_normalised_384_vector(client: TestClient) -> None:
    response = client.post("/v1/embeddings", json={"model": MODEL, "input": "hello world"})
    body = response.json()
    assert body["object"] == "list"
    assert body["model"] == MODEL
    assert [d["index"] for d in body["data"]] == [0]
    vector = np.asarray(body["data"][0]["embedding"])
    assert vector.shape == (384,)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-3)


def test_paraphrase_is_closer_than_unrelated_sentence(client: TestClient) -> None:
    a, b, c = embed(client, ["hello world", "hi there world", "the stock market fell"])
    assert float(a @ b) > 0.6
    assert float(a @ c) < 0.2


def test_list_keeps_input_order_and_matches_single_requests(client: TestClient) -> None:
    texts = [f"sentence {i} about {topic}" for i, topic in enumerate(["cats", "tax law", "rockets", "soup"])]
    together = embed(client, texts)
    alone = [embed(client, t)[0] for t in texts]
    for x, y in zip(together, alone, strict=True):
        assert float(x @ y) == pytest.approx(1.0, abs=1e-3)


def test_base64_is_little_endian_float32_of_the_same_vector(client: TestClient) -> None:
    floats = embed(client, "base64 please")[0]
    response = client.post(
        "/v1/embeddings", json={"model": MODEL, "input": "base64 please", "encoding_format": "base64"}
    )
    raw = base64.b64decode(response.json()["data"][0]["embedding"])
    decoded = np.frombuffer(raw, dtype="<f4")
    assert decoded.shape == (384,)
    np.testing.assert_allclose(decoded, floats, atol=1e-6)


def test_usage_counts_tokens_with_the_real_tokenizer(client: TestClient) -> None:
    tokenizer = Tokenizer.from_file(str(locate(MINILM.files["tokenizer.json"])))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    texts = ["hello world", "Tokenization counts word pieces, not words."]
    expected = sum(len(tokenizer.encode(t).ids) for t in texts)
    usage = client.post("/v1/embeddings", json={"model": MODEL, "input": texts}).json()["usage"]
    assert usage == {"prompt_tokens": expected, "total_tokens": expected}


def test_alias_and_case_select_the_same_model(client: TestClient) -> None:
    for name in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "ALL-MINILM-L6-V2"):
        response = client.post("/v1/embeddings", json={"model": name, "input": "x y z"})
        assert response.status_code == 200
        assert response.json()["model"] == MODEL


def test_long_input_is_truncated_to_the_window(client: TestClient) -> None:
    text = "word " * 1000
    response = client.post("/v1/embeddings", json={"model": MODEL, "input": text})
    assert response.status_code == 200
    assert response.json()["usage"]["prompt_tokens"] == 256


def test_long_input_is_refused_when_truncation_is_off(make_settings: MakeSettings) -> None:
    settings = make_settings(models={"embeddings": {"truncate": False}})
    with running_app(settings) as client:
        response = client.post("/v1/embeddings", json={"model": MODEL, "input": ["short one", "word " * 1000]})
        assert response.status_code == 400
        error = response.json()["error"]
        assert "at most 256" in error["message"]
        assert error["param"] == "input"
        ok = client.post("/v1/embeddings", json={"model": MODEL, "input": "short enough"})
        assert ok.status_code == 200


def test_matching_dimensions_is_accepted(client: TestClient) -> None:
    assert len(embed(client, "dims", dimensions=384)[0]) == 384


def test_timing_headers_are_present(client: TestClient) -> None:
    response = client.post("/v1/embeddings", json={"model": MODEL, "input": "timing"})
    for header in ("x-queue-time", "x-inference-time", "x-total-time", "x-request-id"):
        assert float(response.headers[header]) >= 0 if header != "x-request-id" else response.headers[header]


def test_deadline_gives_504(make_settings: MakeSettings) -> None:
    settings = make_settings(server={"request_timeout_s": 0.001})
    with running_app(settings) as client:
        response = client.post("/v1/embeddings", json={"model": MODEL, "input": ["long text " * 50] * 256})
        assert response.status_code == 504
        assert response.json()["error"]["code"] == "deadline_exceeded"
        assert client.get("/health").status_code == 200


def test_megabyte_input_is_cut_before_tokenizing(client: TestClient) -> None:
    text = "lorem ipsum dolor sit amet " * 40_000  # about 1 MB
    response = client.post("/v1/embeddings", json={"model": MODEL, "input": text})
    assert response.status_code == 200
    assert response.json()["usage"]["prompt_tokens"] == 256
    # the cut leaves the window full: same vector as the first few thousand characters alone
    head = embed(client, text[:5_000])[0]
    full = np.asarray(response.json()["data"][0]["embedding"], dtype=np.float32)
    assert float(head @ full) == pytest.approx(1.0, abs=1e-3)
