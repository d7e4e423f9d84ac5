"""`/v1/classify`, `/v1/inspect` and `/v2/classify`: images in, classes out."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ImageOptions(BaseModel):
    """The fields sent beside one image: in its JSON body, or as multipart fields beside the file."""

    model_config = ConfigDict(extra="forbid")

    filename: str | None = Field(default=None, max_length=1024)
    """The image's file name, for the record."""


class ImagePayload(BaseModel):
    """One image in a JSON body."""

    image: str = Field(min_length=1)
    """The image: base64, or `data:image/...;base64,...`."""


class ClassifyOptions(ImageOptions):
    """How to classify an image."""

    model: str | None = Field(default=None, max_length=256)
    """Classifier id or alias; the server's default classifier when left out."""
    top_k: int | None = Field(default=None, ge=1, le=20)
    """How many predictions to return (default 5)."""


class ClassifyRequest(ClassifyOptions, ImagePayload):
    """Classify one image, sent as base64 or a data URL (or as multipart field `file`)."""


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


class InspectRequest(ImageOptions, ImagePayload):
    """Inspect one image, sent as base64 or a data URL (or as multipart field `file`)."""


class InspectResponse(BaseModel):
    """What the image is."""

    format: str
    """`JPEG`, `PNG`, `GIF`, `WEBP` or `BMP`."""
    size: list[int]
    """`[width, height]` in pixels."""
    mode: str
    """PIL's pixel mode, e.g. `RGB`, `L`, `P`, `CMYK`."""


class ClassifyBatchRequest(BaseModel):
    """`/v2/classify`: several images in one request."""

    model_config = ConfigDict(extra="forbid")

    images: list[str] = Field(min_length=1, max_length=64)
    """Images as base64 or data URLs; each is classified on its own, in one shared batch."""
    model: str | None = Field(default=None, max_length=256)
    """Classifier id, `id@version` or alias; the default classifier when left out."""
    top_k: int | None = Field(default=None, ge=1, le=20)
    """How many predictions per image (default 5)."""


class ImageError(BaseModel):
    """Why one image of a batch was not classified."""

    message: str
    """What is wrong with it."""
    code: str
    """A stable code, e.g. `invalid_input`, `payload_too_large`."""


class ImageResult(BaseModel):
    """One image's outcome: predictions, or an error that concerns this image only."""

    index: int
    """Position of the image in the request."""
    predictions: list[Prediction] | None = None
    """Best classes first, when the image was classified."""
    error: ImageError | None = None
    """Set instead of `predictions` when this image could not be classified."""


class ModelVersion(BaseModel):
    """Which model, and exactly which version, answered."""

    id: str
    """The model's id."""
    version: str
    """Its version."""


class Timing(BaseModel):
    """Where the request's time went, in milliseconds."""

    queue_ms: float
    """Longest wait of an image before its batch ran."""
    inference_ms: float
    """Longest time an image's batch took to run."""
    total_ms: float
    """Time the server spent on the whole request."""


class ClassifyBatchResponse(BaseModel):
    """`/v2/classify`'s answer: one result per image, in order, plus the model version and timings."""

    model: ModelVersion
    """The model that answered."""
    results: list[ImageResult]
    """One per image, in request order."""
    timing: Timing
    """Where the time went."""
