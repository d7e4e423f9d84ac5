"""Create embeddings: check the input, queue it on the model, and render OpenAI's response."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import orjson

from aiserve.engine.protocol import EmbeddingOutput, EngineClient
from aiserve.errors import InvalidInput, ModelNotReady
from aiserve.protocol.embeddings import EmbeddingRequest
from aiserve.registry.registry import ModelEntry, ModelState
from aiserve.settings import Settings


@dataclass(frozen=True, slots=True)
class EmbeddingResult:
    """The rendered response body and where the time went."""

    model: str
    body: bytes
    queue_s: float
    inference_s: float
    tokens: int


def texts_of(request: EmbeddingRequest, max_inputs: int) -> list[str]:
    """The request's input as a list of non-empty strings, or `InvalidInput` saying what is wrong."""
    value = request.input
    if isinstance(value, str):
        texts = [value]
    elif not value:
        raise InvalidInput("'input' is an empty list; send at least one string.", param="input")
    elif all(isinstance(v, str) for v in value):
        texts = [str(v) for v in value]
    else:
        raise InvalidInput(
            "'input' holds token ids; this server embeds text only. Send a string or a list of strings.",
            param="input",
        )
    if len(texts) > max_inputs:
        raise InvalidInput(f"'input' has {len(texts)} strings; the limit is {max_inputs} per request.", param="input")
    for i, text in enumerate(texts):
        if not text.strip():
            raise InvalidInput(f"input[{i}] is empty; every input must contain text.", param="input")
    return texts


async def create_embeddings(
    request: EmbeddingRequest, entry: ModelEntry, *, engine: EngineClient, settings: Settings
) -> EmbeddingResult:
    """Embed the request's texts on the model `entry` and render the response body."""
    if entry.spec.task != "embeddings":
        raise InvalidInput(f"'{request.model}' is a {entry.spec.task} model, not an embedding model.", param="model")
    dims = entry.info.get("dimensions")
    if request.dimensions is not None and dims is not None and request.dimensions != dims:
        raise InvalidInput(
            f"'{entry.name}' makes {dims}-dimensional vectors; 'dimensions' must be {dims}.", param="dimensions"
        )
    texts = texts_of(request, settings.models.embeddings.max_inputs_per_request)
    if entry.state is not ModelState.READY:
        raise ModelNotReady(f"The model '{entry.name}' is {entry.state.value}.", retry_after=2.0)
    done = await engine.run(entry.spec.key, texts, timeout_s=settings.server.request_timeout_s)
    body = render(done.outputs, entry.name, base64_=request.encoding_format == "base64")
    tokens = sum(o.tokens for o in done.outputs)
    return EmbeddingResult(entry.name, body, done.queue_s, done.inference_s, tokens)


def render(outputs: list[EmbeddingOutput], model: str, *, base64_: bool) -> bytes:
    """OpenAI's embeddings body; vectors are serialised straight from numpy."""
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": base64.b64encode(o.vector.astype("<f4").tobytes()).decode() if base64_ else o.vector,
        }
        for i, o in enumerate(outputs)
    ]
    tokens = sum(o.tokens for o in outputs)
    body = {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
