"""Classify an image: resolve the model, queue the image on it, shape the course's answer."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from aiserve.engine.protocol import ClassOutput, EngineClient
from aiserve.errors import InvalidInput, ModelNotReady, PayloadTooLarge
from aiserve.protocol.classify import (
    ClassifyBatchResponse,
    ClassifyResponse,
    ImageError,
    ImageResult,
    InspectResponse,
    ModelVersion,
    Prediction,
    Timing,
)
from aiserve.registry.registry import ModelEntry, ModelRegistry, ModelState
from aiserve.settings import Settings
from aiserve.vision.decode import decode_base64, inspect


@dataclass(frozen=True, slots=True)
class ClassifyResult:
    """The answer and where the time went."""

    response: ClassifyResponse
    queue_s: float
    inference_s: float


def classifier(registry: ModelRegistry, name: str | None) -> ModelEntry:
    """The classifier named, or the server's default one."""
    entry = registry.default_for("classification") if name is None else registry.resolve(name)
    if entry.spec.task != "classification":
        raise InvalidInput(f"'{name}' is a {entry.spec.task} model, not an image classifier.", param="model")
    return entry


async def classify(
    image: bytes, entry: ModelEntry, *, top_k: int | None, engine: EngineClient, settings: Settings
) -> ClassifyResult:
    """Run the image through the classifier and keep its `top_k` best classes."""
    if entry.state is not ModelState.READY:
        raise ModelNotReady(f"The model '{entry.name}' is {entry.state.value}.", retry_after=2.0)
    done = await engine.run(entry.spec.key, [image], timeout_s=settings.server.request_timeout_s)
    output: ClassOutput = done.outputs[0]
    k = top_k or settings.models.classification.default_top_k
    predictions = [Prediction(label=label, confidence=round(p, 4)) for label, p in output.top[:k]]
    return ClassifyResult(ClassifyResponse(model=entry.name, predictions=predictions), done.queue_s, done.inference_s)


async def classify_many(
    images: list[str], entry: ModelEntry, *, top_k: int | None, engine: EngineClient, settings: Settings
) -> ClassifyBatchResponse:
    """Classify each image on its own (a bad image fails alone); the batcher runs them together."""
    started = time.perf_counter()

    async def one(index: int, text: str) -> tuple[ImageResult, float, float]:
        try:
            done = await classify(decode_base64(text), entry, top_k=top_k, engine=engine, settings=settings)
        except InvalidInput as exc:
            code = "payload_too_large" if isinstance(exc, PayloadTooLarge) else "invalid_input"
            return ImageResult(index=index, error=ImageError(message=exc.message, code=code)), 0.0, 0.0
        return ImageResult(index=index, predictions=done.response.predictions), done.queue_s, done.inference_s

    outcomes = await asyncio.gather(*(one(i, text) for i, text in enumerate(images)))
    timing = Timing(
        queue_ms=round(max(q for _, q, _ in outcomes) * 1000, 3),
        inference_ms=round(max(t for _, _, t in outcomes) * 1000, 3),
        total_ms=round((time.perf_counter() - started) * 1000, 3),
    )
    model = ModelVersion(id=entry.spec.id, version=entry.spec.version)
    return ClassifyBatchResponse(model=model, results=[r for r, _, _ in outcomes], timing=timing)


async def inspect_image(image: bytes, settings: Settings) -> InspectResponse:
    """Format, size and mode; decoding runs off the event loop."""
    facts = await asyncio.to_thread(inspect, image, max_pixels=settings.models.classification.max_image_pixels)
    return InspectResponse(format=facts.format, size=list(facts.size), mode=facts.mode)
