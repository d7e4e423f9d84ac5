"""The server's own figures read back from its metrics, per model, for `GET /v1/admin/state`."""

from __future__ import annotations

import pytest

from aiserve.observability.metrics import Metrics, ModelFigures

pytestmark = pytest.mark.unit


def test_figures_add_up_each_models_batches_queue_and_tokens() -> None:
    metrics = Metrics()
    assert metrics.figures() == {}
    metrics.batch_done("minilm@1", 4, 0.01)
    metrics.batch_done("minilm@1", 2, 0.01)
    metrics.queue_changed("minilm@1", 3)
    metrics.generation_done("chat@1", "stop", 7)
    metrics.generation_done("chat@1", "length", 5)
    assert metrics.figures() == {
        "minilm@1": ModelFigures(queue_depth=3, batches=2, batched_inputs=6),
        "chat@1": ModelFigures(generated_tokens=12, generations=2),
    }


def test_requests_answered_counts_every_route_and_status() -> None:
    metrics = Metrics()
    metrics.observe_request("/v1/embeddings", "minilm@1", 200, 0.01, None)
    metrics.observe_request("/v1/embeddings", "minilm@1", 429, 0.01, None)
    metrics.observe_request("/health", "", 200, 0.001, None)
    assert metrics.requests_answered() == 3
