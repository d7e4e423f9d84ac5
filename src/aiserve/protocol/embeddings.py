"""`/v1/embeddings`, OpenAI-compatible."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class EmbeddingRequest(BaseModel):
    """Create embeddings for one string or a list of strings."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=256)
    """Model id or alias."""
    input: str | list[str] | list[int] | list[list[int]]
    """Text to embed: a string or a list of strings. Token-id inputs are refused with 400."""
    encoding_format: Literal["float", "base64"] = "float"
    """`float` gives lists of numbers; `base64` gives little-endian float32 bytes, base64-encoded."""
    dimensions: int | None = Field(default=None, ge=1)
    """Must equal the model's size when given; these models cannot shorten their vectors."""
    user: str | None = Field(default=None, max_length=256)
    """An end-user id: written to the access log."""


class Embedding(BaseModel):
    """One embedding vector."""

    object: Literal["embedding"] = "embedding"
    """Always `embedding`."""
    index: int
    """Position of the input this vector belongs to."""
    embedding: list[float] | str
    """The vector, or its base64 form."""


class EmbeddingUsage(BaseModel):
    """Tokens the request used, counted by the model's own tokenizer."""

    prompt_tokens: int
    """Tokens the model read (after truncation, special tokens included)."""
    total_tokens: int
    """Same as `prompt_tokens` for embeddings."""


class EmbeddingResponse(BaseModel):
    """The embeddings, in input order."""

    object: Literal["list"] = "list"
    """Always `list`."""
    data: list[Embedding]
    """One entry per input."""
    model: str
    """The model that made them."""
    usage: EmbeddingUsage
    """Token usage."""
