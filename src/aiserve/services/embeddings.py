"""Create embeddings: check the input, queue it on the model, and answer in OpenAI's shape."""

from __future__ import annotations

import base64

from aiserve.engine.protocol import EmbeddingOutput
from aiserve.errors import InvalidInput
from aiserve.protocol.embeddings import Embedding, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage
from aiserve.registry.protocol import ModelEntry, require_ready
from aiserve.services.base import ModelService
from aiserve.services.meter import Meter


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


def worst_case(texts: list[str], window: int) -> int:
    """The most tokens `texts` can take: a word-piece tokenizer makes at most one token per character, plus the two
    markers around each input, and cuts each to the model's window."""
    return sum(min(len(text) + 2, window) if window else len(text) + 2 for text in texts)


class EmbeddingService(ModelService):
    """`POST /v1/embeddings`."""

    @staticmethod
    def _check(request: EmbeddingRequest, entry: ModelEntry) -> None:
        dims = entry.info.get("dimensions")
        if request.dimensions is not None and dims is not None and request.dimensions != dims:
            raise InvalidInput(
                f"'{entry.name}' makes {dims}-dimensional vectors; 'dimensions' must be {dims}.", param="dimensions"
            )

    async def create(self, request: EmbeddingRequest, meter: Meter) -> EmbeddingResponse:
        """Embed the request's texts."""
        meter.end_user = request.user or ""
        entry = self._entry(request.model, "embeddings", meter, what="an embedding model")
        self._check(request, entry)
        texts = texts_of(request, self._settings.models.embeddings.max_inputs_per_request)
        require_ready(entry)
        if meter.reserving:  # the key has token limits: hold back exactly what the model will read
            counted = await self._engine.count_tokens(entry.spec.key, texts)
            window = int(entry.info.get("max_input_tokens") or 0)
            await meter.reserve(tokens=sum(counted) if counted else worst_case(texts, window))
        done = await self._engine.run(
            entry.spec.key, texts, timeout_s=self._settings.server.request_timeout_s, owner=meter.owner
        )
        meter.timed(done.queue_s, done.inference_s)
        response = answer(done.outputs, entry.name, base64_=request.encoding_format == "base64")
        meter.input_tokens = response.usage.prompt_tokens
        return response


def answer(outputs: list[EmbeddingOutput], model: str, *, base64_: bool) -> EmbeddingResponse:
    """OpenAI's embeddings answer, built without validation: each `embedding` is the engine's float32 numpy vector
    itself (or its base64), for the transport to write straight from numpy (`api.responses.array_response`: five
    times faster than converting thousands of floats to Python and half the bytes)."""
    data = [
        Embedding.model_construct(
            index=i, embedding=base64.b64encode(o.vector.astype("<f4").tobytes()).decode() if base64_ else o.vector
        )
        for i, o in enumerate(outputs)
    ]
    tokens = sum(o.tokens for o in outputs)
    usage = EmbeddingUsage.model_construct(prompt_tokens=tokens, total_tokens=tokens)
    return EmbeddingResponse.model_construct(data=data, model=model, usage=usage)
