"""Rerank: score each document against the query on a rerank model (all pairs batched together on the engine),
and answer best first."""

from __future__ import annotations

import uuid

from aiserve.engine.protocol import ScoreOutput
from aiserve.errors import InvalidInput, PayloadTooLarge
from aiserve.protocol.rerank import (
    RerankDocument,
    RerankRequest,
    RerankResponse,
    RerankResult,
    RerankUsage,
    TeiRank,
    TeiRerankRequest,
)
from aiserve.registry.protocol import require_ready
from aiserve.services.base import ModelService
from aiserve.services.meter import Meter


def texts_of(documents: list[str | RerankDocument], *, most: int, param: str) -> list[str]:
    """The documents' texts: at most `most` (413 past it), none empty."""
    if not documents:
        raise InvalidInput(f"'{param}' is empty; send at least one document.", param=param)
    if len(documents) > most:
        raise PayloadTooLarge(f"'{param}' has {len(documents)} documents; the limit is {most} per request "
                              "(models.rerank.max_documents).", param=param)  # fmt: skip
    texts = [d if isinstance(d, str) else d.text for d in documents]
    for i, text in enumerate(texts):
        if not text.strip():
            raise InvalidInput(f"{param}[{i}] is empty; every document must contain text.", param=param)
    return texts


class RerankService(ModelService):
    """`POST /v1/rerank` and TEI's `POST /rerank`."""

    async def scores(
        self, model: str | None, query: str, texts: list[str], meter: Meter
    ) -> tuple[str, list[ScoreOutput]]:
        """The model's name, and each text's relevance to `query` in the texts' order."""
        entry = self._entry(model, "rerank", meter, what="a rerank model")
        if not query.strip():
            raise InvalidInput("'query' is empty.", param="query")
        require_ready(entry)
        pairs = [(query, text) for text in texts]
        if meter.reserving:  # the key has token limits: hold back exactly what the model will read
            counted = await self._engine.count_tokens(entry.spec.key, pairs)
            await meter.reserve(tokens=sum(counted) if counted else sum(len(q) + len(t) + 3 for q, t in pairs))
        done = await self._engine.run(
            entry.spec.key, pairs, timeout_s=self._settings.server.request_timeout_s, owner=meter.owner
        )
        meter.timed(done.queue_s, done.inference_s)
        outputs: list[ScoreOutput] = done.outputs
        meter.input_tokens = sum(o.tokens for o in outputs)
        return entry.name, outputs

    async def rerank(self, request: RerankRequest, meter: Meter) -> RerankResponse:
        """The documents best first (the best `top_n`), with their scores."""
        texts = texts_of(request.documents, most=self._settings.models.rerank.max_documents, param="documents")
        name, outputs = await self.scores(request.model, request.query, texts, meter)
        order = ranked(outputs)[: request.top_n]
        results = [RerankResult(index=i, relevance_score=outputs[i].score,
                                document=RerankDocument(text=texts[i]) if request.return_documents else None)
                   for i in order]  # fmt: skip
        tokens = meter.input_tokens
        return RerankResponse(id=f"rerank-{uuid.uuid4().hex}", model=name, results=results,
                              usage=RerankUsage(prompt_tokens=tokens, total_tokens=tokens))  # fmt: skip

    async def tei(self, request: TeiRerankRequest, meter: Meter) -> list[TeiRank]:
        """TEI's answer: every text, best first."""
        documents: list[str | RerankDocument] = list(request.texts)
        texts = texts_of(documents, most=self._settings.models.rerank.max_documents, param="texts")
        _, outputs = await self.scores(request.model, request.query, texts, meter)
        return [TeiRank(index=i, score=outputs[i].score, text=texts[i] if request.return_text else None)
                for i in ranked(outputs)]  # fmt: skip


def ranked(outputs: list[ScoreOutput]) -> list[int]:
    """The outputs' indices, best score first (ties in the documents' order)."""
    return sorted(range(len(outputs)), key=lambda i: -outputs[i].score)
