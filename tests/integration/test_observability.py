"""Request ids, one JSON access-log line per request, Prometheus metrics."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from aiserve.observability.logging import JsonFormatter

pytestmark = pytest.mark.integration


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    assert client.get("/health", headers={"x-request-id": "abc-123"}).headers["x-request-id"] == "abc-123"
    made = client.get("/health").headers["x-request-id"]
    assert len(made) == 32
    assert client.get("/health", headers={"x-request-id": "x" * 500}).headers["x-request-id"] != "x" * 500


def test_one_access_line_per_request_with_model_and_queue_time(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="aiserve.access"):
        client.post(
            "/v1/embeddings",
            json={"model": "all-minilm-l6-v2", "input": "log me"},
            headers={"x-request-id": "log-1", "authorization": "Bearer sk-secret-value"},
        )
    lines = [r for r in caplog.records if r.name == "aiserve.access" and getattr(r, "request_id", "") == "log-1"]
    assert len(lines) == 1
    line = json.loads(JsonFormatter().format(lines[0]))
    assert line["route"] == "/v1/embeddings"
    assert line["model"] == "all-minilm-l6-v2@1"
    assert line["status"] == 200
    assert line["latency_ms"] >= line["queue_ms"] >= 0
    assert "sk-secret-value" not in json.dumps(line)


def test_metrics_count_requests_batches_and_queue(client: TestClient) -> None:
    client.post("/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": ["a b", "c d", "e f"]})
    text = client.get("/metrics").text
    assert 'aiserve_requests_total{model="all-minilm-l6-v2@1",route="/v1/embeddings",status="200"}' in text
    assert 'aiserve_batch_size_bucket{le="4.0",model="all-minilm-l6-v2@1"}' in text
    assert 'aiserve_queue_depth{model="all-minilm-l6-v2@1"} 0.0' in text
    assert "aiserve_request_duration_seconds_bucket" in text
    assert "aiserve_models_ready 4.0" in text
