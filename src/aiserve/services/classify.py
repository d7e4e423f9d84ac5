"""Classify an image: resolve the model, queue the image on it, shape the course's answer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiserve.engine.protocol import ClassOutput, EngineClient
from aiserve.errors import InvalidInput, ModelNotReady
from aiserve.protocol.classify import ClassifyResponse, InspectResponse, Prediction
from aiserve.registry.registry import ModelEntry, ModelRegistry, ModelState
from aiserve.settings import Settings
from aiserve.vision.decode import inspect


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


async def inspect_image(image: bytes, settings: Settings) -> InspectResponse:
    """Format, size and mode; decoding runs off the event loop."""
    facts = await asyncio.to_thread(inspect, image, max_pixels=settings.models.classification.max_image_pixels)
    return InspectResponse(format=facts.format, size=list(facts.size), mode=facts.mode)
