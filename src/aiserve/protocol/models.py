"""`/v1/models` in OpenAI's shape, with aiserve's extra fields."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ModelCard(BaseModel):
    """One model as `/v1/models` lists it."""

    id: str
    """The name to pass as `model`: the bare id for an id's default version, else `id@version`."""
    version: str
    """The model's version; `id@version` always selects exactly this one."""
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
    device: str | None = None
    """Where it runs: `cpu` or `cuda`."""
    dimensions: int | None = None
    """Embedding size, for embedding models."""
    max_input_tokens: int | None = None
    """The model's context window in tokens."""
    num_labels: int | None = None
    """Number of classes, for classifiers."""
    vision: bool | None = None
    """True for a chat model that sees images for itself (a GGUF with its projector); other chat models are told
    what the server's vision model saw."""
    error: str | None = None
    """Why the model failed to load, when it did."""


class ModelList(BaseModel):
    """The list body of `/v1/models`."""

    object: Literal["list"] = "list"
    """Always `list`."""
    data: list[ModelCard]
    """The models."""


class ModelRef(BaseModel):
    """Names a model for an admin action."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=256)
    """`id@version`, an alias, or a bare id."""


class ModelAlias(BaseModel):
    """A movable alias: a name that selects one model version until an admin points it at another."""

    alias: str
    """The name clients pass as `model`."""
    model: str
    """The `id@version` it points at."""
    card: ModelCard | None = None
    """That model's card; null while it is not loaded (requests naming the alias then answer 404)."""


class ModelAliasList(BaseModel):
    """The list body of `/v1/admin/aliases`."""

    object: Literal["list"] = "list"
    """Always `list`."""
    data: list[ModelAlias]
    """The aliases, by name."""
