"""`/v1/rerank` and TEI's `/rerank` on the real app: the built-in reranker on the shipped MiniLM orders a labelled
retrieval set at least as well as the embeddings it reranks, a cross-encoder from the catalogue scores exactly as
its ONNX file does, and every bad request is a 4xx naming its field while the server answers on."""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import MakeSettings
from tests.integration.conftest import running_app
from tests.retrieval_set import DOCUMENTS, QUERIES, ndcg_at

pytestmark = pytest.mark.integration

ADMIN = "sk-test-rerank-" + "r" * 32
CANDIDATES = 20
"""Documents the embeddings find for each query, which the reranker then orders."""


@pytest.fixture(scope="module")
def client(
    make_settings: MakeSettings, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("rerank")
    (root / "models").symlink_to(data_dir / "models")
    settings = make_settings(data_dir=root, models={"enabled": ["minilm-rerank", "all-minilm-l6-v2"],
                                                    "rerank": {"max_documents": 64}},
                             auth={"enabled": True, "bootstrap_key": ADMIN, "cache_s": 0})  # fmt: skip
    with running_app(settings, key=ADMIN) as c:
        yield c


def rerank(client: TestClient, query: str, documents: list[Any], **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/rerank", json={"query": query, "documents": documents, **fields})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


GARDEN = ["Basil wants six hours of sun and soil that drains; pinch off its flowers to keep the leaves coming.",
          "The Eiffel Tower was finished in 1889 for the World's Fair in Paris.",
          "Sweet basil is the main herb in a Genoese pesto.",
          "Water tomato plants deeply twice a week rather than a little every day."]  # fmt: skip


def test_documents_come_back_best_first_with_their_scores(client: TestClient) -> None:
    body = rerank(client, "How do I keep my basil plant healthy?", GARDEN)
    assert body["object"] == "rerank"
    assert body["model"] == "minilm-rerank"
    assert body["id"].startswith("rerank-")
    results = body["results"]
    assert sorted(r["index"] for r in results) == [0, 1, 2, 3]
    scores = [r["relevance_score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert results[0]["index"] == 0
    assert results[-1]["index"] == 1  # the tower has nothing to do with basil
    assert all(r["document"] == {"text": GARDEN[r["index"]]} for r in results)
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 4 * 10


def test_top_n_objects_and_no_documents(client: TestClient) -> None:
    whole = rerank(client, "pesto herb", [{"text": text} for text in GARDEN])
    best = rerank(client, "pesto herb", GARDEN, top_n=2, return_documents=False)
    assert [r["index"] for r in best["results"]] == [r["index"] for r in whole["results"][:2]]
    assert all("document" not in r or r["document"] is None for r in best["results"])
    assert rerank(client, "pesto herb", GARDEN, top_n=10)["results"] == whole["results"]


def test_tei_rerank_shape(client: TestClient) -> None:
    response = client.post("/rerank", json={"query": "How do I keep my basil plant healthy?", "texts": GARDEN})
    assert response.status_code == 200, response.text
    ranks = response.json()
    assert [r["index"] for r in ranks][0] == 0
    assert all(set(r) == {"index", "score"} or r.get("text") is None for r in ranks)
    assert [r["score"] for r in ranks] == sorted((r["score"] for r in ranks), reverse=True)
    texts = client.post("/rerank", json={"query": "basil", "texts": GARDEN, "return_text": True}).json()
    assert all(r["text"] == GARDEN[r["index"]] for r in texts)


def test_reranking_orders_the_retrieval_set_at_least_as_well_as_the_embeddings(client: TestClient, report: Any) -> None:
    vectors = client.post("/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": list(DOCUMENTS)}).json()
    documents = np.array([d["embedding"] for d in vectors["data"]], dtype=np.float32)
    queries = client.post("/v1/embeddings", json={"model": "all-minilm-l6-v2",
                                                  "input": [q.text for q in QUERIES]}).json()  # fmt: skip
    embedded, reranked = [], []
    for query, vector in zip(QUERIES, queries["data"], strict=True):
        order = [int(i) for i in np.argsort(-(documents @ np.array(vector["embedding"], dtype=np.float32)))]
        embedded.append(ndcg_at(order, query.relevant))
        candidates = order[:CANDIDATES]
        body = rerank(client, query.text, [DOCUMENTS[i] for i in candidates], return_documents=False)
        reranked.append(ndcg_at([candidates[r["index"]] for r in body["results"]] + order[CANDIDATES:],
                                query.relevant))  # fmt: skip
    before, after = sum(embedded) / len(embedded), sum(reranked) / len(reranked)
    report(f"nDCG@5 over {len(QUERIES)} queries: embedding order {before:.4f}, reranked top {CANDIDATES} {after:.4f}")
    assert len(QUERIES) >= 30
    assert after >= before


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"query": "q", "documents": ["d"] * 65}, 413, "documents"),
        ({"query": "q", "documents": []}, 400, "documents"),
        ({"query": "q", "documents": ["fine", "   "]}, 400, "documents"),
        ({"query": "", "documents": ["d"]}, 400, "query"),
        ({"query": "   ", "documents": ["d"]}, 400, "query"),
        ({"query": "q", "documents": ["d"], "top_n": 0}, 400, "top_n"),
        ({"query": "q", "documents": ["d"], "rank_fields": ["title"]}, 400, "rank_fields"),
        ({"query": "q", "documents": [{"text": "d", "title": "t"}]}, 400, "documents"),
        ({"query": "q", "documents": [5]}, 400, "documents"),
        ({"query": "q", "documents": ["d"], "model": "all-minilm-l6-v2"}, 400, "model"),
        ({"query": "q", "documents": ["d"], "model": "nope"}, 404, "model"),
    ],
)
def test_bad_requests_name_their_field(client: TestClient, body: dict[str, Any], status: int, param: str) -> None:
    response = client.post("/v1/rerank", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"].split("[")[0].split(".")[0] == param


@pytest.mark.parametrize(
    ("body", "param"),
    [({"query": "q", "texts": ["d"], "raw_scores": True}, "raw_scores"),
     ({"query": "q", "texts": ["d"], "truncate": False}, "truncate"),
     ({"query": "q", "texts": ["d"] * 65}, "texts")],
)  # fmt: skip
def test_tei_refuses_what_it_cannot_honour(client: TestClient, body: dict[str, Any], param: str) -> None:
    response = client.post("/rerank", json=body)
    assert response.status_code in (400, 413), response.text
    assert response.json()["error"]["param"].split("[")[0] == param


def test_huge_documents_are_cut_to_the_window_and_the_server_answers_on(client: TestClient) -> None:
    huge = "word " * 200_000  # a megabyte
    body = rerank(client, "word " * 5_000, [huge, "short"], return_documents=False)
    assert len(body["results"]) == 2
    assert body["usage"]["prompt_tokens"] <= 4 * 256  # each text cut to the model's 256 tokens
    assert rerank(client, "basil", GARDEN)["results"][0]["index"] in (0, 2)


def test_rerank_requests_count_in_the_ledger(client: TestClient) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    client.post("/v1/admin/users", json={"name": "ranker"}, headers=admin)
    key = client.post("/v1/admin/keys", json={"user": "ranker"}, headers=admin).json()["key"]
    mine = {"Authorization": f"Bearer {key}"}
    answer = client.post("/v1/rerank", json={"query": "basil", "documents": GARDEN}, headers=mine)
    assert answer.status_code == 200
    deadline = time.monotonic() + 10
    while (usage := client.get("/v1/usage", headers=mine).json())["total_requests"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert usage["by_model"][0]["model"] == "minilm-rerank@1"
    assert usage["input_tokens"] == answer.json()["usage"]["prompt_tokens"]


def tiny_cross_encoder(folder: Path, tokenizer: Path) -> None:
    """A two-layer BERT cross-encoder with random weights and the MiniLM vocabulary: its scores mean nothing, but
    they are what its ONNX file gives."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64)  # fmt: skip
    config.num_labels = 1  # one logit: the relevance is its sigmoid
    model = BertForSequenceClassification(config)
    model.train(False)

    class Scorer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    ids = torch.ones(2, 8, dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter and its tracer talk a lot about a small BERT
        axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"logits": {0: "batch"}}
        torch.onnx.export(Scorer(), (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(folder / "model.onnx"),
                          opset_version=17, dynamo=False, input_names=names, output_names=["logits"],
                          dynamic_axes=axes)  # fmt: skip
    (folder / "tokenizer.json").write_bytes(tokenizer.read_bytes())


def onnx_scores(folder: Path, query: str, documents: list[str]) -> list[float]:
    """The cross-encoder's relevance of each document, straight from onnxruntime."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    scores = []
    for document in documents:
        encoding = tokenizer.encode(query, document)
        feeds = {"input_ids": np.array([encoding.ids], dtype=np.int64),
                 "attention_mask": np.array([encoding.attention_mask], dtype=np.int64),
                 "token_type_ids": np.array([encoding.type_ids], dtype=np.int64)}  # fmt: skip
        logit = float(session.run(None, feeds)[0][0][0])
        scores.append(1.0 / (1.0 + math.exp(-logit)))
    return scores


def test_a_cross_encoder_from_the_catalogue_scores_as_its_onnx_file_does(
    make_settings: MakeSettings, data_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    tiny_cross_encoder(folder, data_dir / "models" / "all-minilm-l6-v2@1" / "tokenizer.json")
    files = {"model.onnx": folder / "model.onnx", "tokenizer.json": folder / "tokenizer.json"}
    catalog = [{"id": "tiny-cross", "task": "rerank", "backend": "onnx-cross-encoder", "files": files,
                "options": {"max_tokens": 128}}]  # fmt: skip
    (tmp_path / "models").symlink_to(data_dir / "models")
    settings = make_settings(data_dir=tmp_path, models={"enabled": ["tiny-cross"], "catalog": catalog})
    with running_app(settings) as c:
        cards = {card["id"]: card for card in c.get("/v1/models").json()["data"]}
        assert cards["tiny-cross"]["task"] == "rerank"
        body = rerank(c, "How do I keep my basil plant healthy?", GARDEN, model="tiny-cross")
    expected = onnx_scores(folder, "How do I keep my basil plant healthy?", GARDEN)
    got = {r["index"]: r["relevance_score"] for r in body["results"]}
    assert [got[i] for i in range(len(GARDEN))] == pytest.approx(expected, abs=1e-5)
    assert [r["index"] for r in body["results"]] == sorted(range(len(GARDEN)), key=lambda i: -expected[i])


@pytest.mark.skipif(not os.environ.get("AISERVE_TEST_CROSS_ENCODER"), reason="no cross-encoder given")
def test_a_real_cross_encoder_beats_the_embedding_order(make_settings: MakeSettings, data_dir: Path,
                                                        tmp_path: Path) -> None:  # fmt: skip
    given = Path(os.environ["AISERVE_TEST_CROSS_ENCODER"])  # a folder with model.onnx and tokenizer.json
    files = {"model.onnx": given / "model.onnx", "tokenizer.json": given / "tokenizer.json"}
    catalog = [{"id": "cross", "task": "rerank", "backend": "onnx-cross-encoder", "files": files}]
    (tmp_path / "models").symlink_to(data_dir / "models")
    settings = make_settings(data_dir=tmp_path, models={"enabled": ["cross", "all-minilm-l6-v2"], "catalog": catalog})
    with running_app(settings) as c:
        vectors = c.post("/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": list(DOCUMENTS)}).json()
        documents = np.array([d["embedding"] for d in vectors["data"]], dtype=np.float32)
        embedded, reranked = [], []
        for query in QUERIES:
            vector = c.post("/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": query.text}).json()
            order = [int(i) for i in np.argsort(-(documents @ np.array(vector["data"][0]["embedding"])))]
            embedded.append(ndcg_at(order, query.relevant))
            body = rerank(c, query.text, [DOCUMENTS[i] for i in order[:CANDIDATES]], model="cross")
            reranked.append(ndcg_at([order[r["index"]] for r in body["results"]], query.relevant))
    assert sum(reranked) >= sum(embedded)
