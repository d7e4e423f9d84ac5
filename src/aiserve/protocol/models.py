"""`/v1/models` in OpenAI's shape, with aiserve's extra fields."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ModelCard(BaseModel):
    """One model as `/v1/models` lists it."""

    id: str
    """The model id to pass as `model`."""
    object: Literal["model"] = "model"
    """Always `model`."""
    created: int
    """Unix time the model was registered."""
    owned_by: str = "aiserve"
    """Who serves it."""
    task: str
    """What it does: `embeddings`, `classification` or `chat`."""
    status: str
    """`loading`, `ready` or `failed`."""
    aliases: list[str] = Field(default_factory=list)
    """Other names that select this model."""
    runtime: str
    """The runtime that runs it, e.g. `onnxruntime`."""
    dimensions: int | None = None
    """Embedding size, for embedding models."""
    max_input_tokens: int | None = None
    """The model's context window in tokens."""


class ModelList(BaseModel):
    """The list body of `/v1/models`."""

    object: Literal["list"] = "list"
    """Always `list`."""
    data: list[ModelCard]
    """The models."""
