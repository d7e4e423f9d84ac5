"""`/v1/classify` and `/v1/inspect`, on the course's contract."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ClassifyRequest(BaseModel):
    """Classify one image, sent as base64 or a data URL (or as multipart field `file`)."""

    model_config = ConfigDict(extra="ignore")

    image: str = Field(min_length=1)
    """The image: base64, or `data:image/...;base64,...`."""
    model: str | None = Field(default=None, max_length=256)
    """Classifier id or alias; the server's default classifier when left out."""
    top_k: int | None = Field(default=None, ge=1, le=20)
    """How many predictions to return (default 5)."""
    filename: str | None = Field(default=None, max_length=1024)
    """The image's file name, for the record."""


class Prediction(BaseModel):
    """One class and its probability."""

    label: str
    """ImageNet-1k class name (or the model's own label)."""
    confidence: float
    """Softmax probability, rounded to 4 decimals."""


class ClassifyResponse(BaseModel):
    """The best classes, most likely first."""

    model: str
    """The model that classified the image."""
    predictions: list[Prediction]
    """`top_k` predictions, sorted by confidence, descending."""


class InspectRequest(BaseModel):
    """Inspect one image."""

    image: str = Field(min_length=1)
    """The image: base64, or `data:image/...;base64,...`."""


class InspectResponse(BaseModel):
    """What the image is."""

    format: str
    """`JPEG`, `PNG`, `GIF`, `WEBP` or `BMP`."""
    size: list[int]
    """`[width, height]` in pixels."""
    mode: str
    """PIL's pixel mode, e.g. `RGB`, `L`, `P`, `CMYK`."""
