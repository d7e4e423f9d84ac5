"""Classify images: resolve the classifier, decode and queue the images on it, answer with the best classes."""

from __future__ import annotations

import asyncio
import time

from aiserve.engine.protocol import ClassOutput
from aiserve.errors import InvalidInput
from aiserve.protocol.classify import (
    ClassifyBatchRequest,
    ClassifyBatchResponse,
    ClassifyOptions,
    ClassifyResponse,
    ImageError,
    ImageResult,
    InspectResponse,
    ModelVersion,
    Prediction,
    Timing,
)
from aiserve.registry.protocol import ModelEntry, require_ready
from aiserve.services.base import ModelService
from aiserve.services.meter import Meter
from aiserve.vision.decode import decode_base64, inspect

Image = bytes | str
"""An image as it came: raw bytes (multipart) or base64 / a data URL (JSON)."""


def _bytes(image: Image) -> bytes:
    return decode_base64(image) if isinstance(image, str) else image


class ClassifyService(ModelService):
    """`/v1/classify`, `/v2/classify` and `/v1/inspect`."""

    def _classifier(self, name: str | None, meter: Meter) -> ModelEntry:
        return self._entry(name, "classification", meter, what="an image classifier")

    async def _run(
        self, image: bytes, entry: ModelEntry, top_k: int | None, owner: str
    ) -> tuple[list[Prediction], float, float]:
        require_ready(entry)
        done = await self._engine.run(
            entry.spec.key, [image], timeout_s=self._settings.server.request_timeout_s, owner=owner
        )
        output: ClassOutput = done.outputs[0]
        k = top_k or self._settings.models.classification.default_top_k
        predictions = [Prediction(label=label, confidence=round(p, 4)) for label, p in output.top[:k]]
        return predictions, done.queue_s, done.inference_s

    async def classify(self, image: Image, options: ClassifyOptions, meter: Meter) -> ClassifyResponse:
        """The image's `top_k` best classes."""
        entry = self._classifier(options.model, meter)
        await meter.reserve(images=1)
        predictions, queue_s, inference_s = await self._run(_bytes(image), entry, options.top_k, meter.owner)
        meter.timed(queue_s, inference_s)
        meter.images = 1
        return ClassifyResponse(model=entry.name, predictions=predictions)

    async def classify_many(self, request: ClassifyBatchRequest, meter: Meter) -> ClassifyBatchResponse:
        """Classify each image on its own (a bad image fails alone, with its error's code); the batcher runs them
        together. Only the images classified count."""
        started = time.perf_counter()
        entry = self._classifier(request.model, meter)
        await meter.reserve(images=len(request.images))

        async def one(index: int, text: str) -> tuple[ImageResult, float, float]:
            try:
                predictions, queue_s, inference_s = await self._run(
                    decode_base64(text), entry, request.top_k, meter.owner
                )
            except InvalidInput as exc:
                return ImageResult(index=index, error=ImageError(message=exc.message, code=exc.code)), 0.0, 0.0
            return ImageResult(index=index, predictions=predictions), queue_s, inference_s

        outcomes = await asyncio.gather(*(one(i, text) for i, text in enumerate(request.images)))
        queue_s, inference_s = max(q for _, q, _ in outcomes), max(t for _, _, t in outcomes)
        meter.timed(queue_s, inference_s)
        meter.images = sum(result.error is None for result, _, _ in outcomes)
        timing = Timing(queue_ms=round(queue_s * 1000, 3), inference_ms=round(inference_s * 1000, 3),
                        total_ms=round((time.perf_counter() - started) * 1000, 3))  # fmt: skip
        model = ModelVersion(id=entry.spec.id, version=entry.spec.version)
        return ClassifyBatchResponse(model=model, results=[r for r, _, _ in outcomes], timing=timing)

    async def inspect(self, image: Image) -> InspectResponse:
        """Format, size and mode, after checking that the image decodes; decoding runs off the event loop."""
        max_pixels = self._settings.models.classification.max_image_pixels
        facts = await asyncio.to_thread(inspect, _bytes(image), max_pixels=max_pixels)
        return InspectResponse(format=facts.format, size=list(facts.size), mode=facts.mode)
