"""The embeddings workload: one sentence per request; compared at 32 clients with offline batch 1 and 32."""

from __future__ import annotations

import json

from aiserve.bench.runner import Workload

SENTENCE = "The quick brown fox jumps over the lazy dog while the farmer watches from the porch."


def embeddings_workload(model: str = "all-minilm-l6-v2") -> Workload:
    """Single-sentence `/v1/embeddings` requests."""
    return Workload(
        model=model,
        path="/v1/embeddings",
        body=json.dumps({"model": model, "input": SENTENCE}),
        item=SENTENCE,
        ratio_at=32,
        offline_batches=(1, 32),
        describe="POST /v1/embeddings, 1 sentence (20 tokens) per request",
    )
