"""The official `openai` package against a running server."""

from __future__ import annotations

import numpy as np
import openai
import pytest

from aiserve.bench.server import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-unused", max_retries=0)


def test_models_list(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == ["all-minilm-l6-v2", "efficientnet-lite0", "smollm2-135m-instruct", "minilm-rerank"]
    assert client.models.retrieve("all-MiniLM-L6-v2").id == "all-minilm-l6-v2"


def test_embeddings_float_and_base64_agree(client: openai.OpenAI) -> None:
    texts = ["The cat sits on the mat.", "A kitten is resting on a rug.", "Quarterly revenue grew by 4%."]
    as_float = client.embeddings.create(model="all-minilm-l6-v2", input=texts, encoding_format="float")
    as_base64 = client.embeddings.create(model="all-minilm-l6-v2", input=texts)  # the SDK asks for base64
    a = np.array([d.embedding for d in as_float.data])
    b = np.array([d.embedding for d in as_base64.data])
    assert a.shape == b.shape == (3, 384)
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert a[0] @ a[1] > a[0] @ a[2]
    assert as_float.usage.prompt_tokens > 0
    assert as_float.model == "all-minilm-l6-v2"


def test_sdk_errors_map_to_its_exceptions(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as not_found:
        client.embeddings.create(model="no-such-model", input="x")
    assert not_found.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="all-minilm-l6-v2", input=[])
    assert not_found.value.request_id
