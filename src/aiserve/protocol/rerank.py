"""`/v1/rerank` in the shape vLLM, llama.cpp's server, LiteLLM, Cohere and Jina share, and `/rerank` in Text
Embeddings Inference's."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RerankDocument(_Strict):
    """A document as an object."""

    text: str
    """Its text."""


class RerankRequest(_Strict):
    """Order documents by how relevant each is to a query."""

    model: str | None = Field(default=None, min_length=1, max_length=256)
    """Model id or alias; the server's first rerank model when left out."""
    query: str = Field(min_length=1)
    """What the documents are ranked against."""
    documents: list[str | RerankDocument]
    """The documents: strings, or objects with `text`."""
    top_n: int | None = Field(default=None, ge=1)
    """Return only the best `top_n` (all when left out)."""
    return_documents: bool = True
    """Give each result's document back with it."""


class RerankResult(BaseModel):
    """One document's place."""

    index: int
    """Its position in the request's `documents`."""
    relevance_score: float
    """How relevant it is, 0 to 1; the results are ordered by it, best first."""
    document: RerankDocument | None = None
    """The document, when `return_documents` is true."""


class RerankUsage(BaseModel):
    """Tokens the model read."""

    prompt_tokens: int
    """The query and documents' tokens, as the model read them (the query counts once per document)."""
    total_tokens: int
    """Same as `prompt_tokens`."""


class RerankResponse(BaseModel):
    """The documents, best first."""

    id: str
    """This answer's id."""
    object: Literal["rerank"] = "rerank"
    """Always `rerank`."""
    model: str
    """The model that ranked them."""
    results: list[RerankResult]
    """Best first."""
    usage: RerankUsage
    """Token usage."""


class TeiRerankRequest(_Strict):
    """Text Embeddings Inference's `/rerank`."""

    query: str = Field(min_length=1)
    """What the texts are ranked against."""
    texts: list[str]
    """The texts."""
    return_text: bool = False
    """Give each result's text back with it."""
    raw_scores: Literal[False] = False
    """Scores are always 0 to 1; only false is accepted."""
    truncate: Literal[True] = True
    """Texts past the model's window are always cut to fit (as TEI does with `truncate: true`); only true is
    accepted."""
    model: str | None = Field(default=None, min_length=1, max_length=256)
    """An extension: the model id or alias (the server's first rerank model when left out)."""


class TeiRank(BaseModel):
    """One text's place."""

    index: int
    """Its position in `texts`."""
    score: float
    """How relevant it is, 0 to 1."""
    text: str | None = None
    """The text, when `return_text` is true."""
