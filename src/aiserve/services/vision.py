"""The vision bridge: a chat model that cannot see is told, for each image in the conversation, what a vision model
from the catalogue saw in it. The server runs the vision model (by default the ImageNet classifier; any classifier,
one trained with `aiserve train` included) and puts a short, clearly marked description in the prompt where the
image was; the answer names the vision model.

Images come as data URLs (or `http(s)://` URLs when the operator turns fetching on), are held to the same limits
and checks as `/v1/classify`, and count as images against the key's limits and in the ledger.

A chat model that sees for itself (a GGUF with its projector) is given each image's pixels instead, checked and
decoded here, off the event loop."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiserve.engine.protocol import ClassOutput, Picture
from aiserve.errors import InvalidInput, ModelNotFound, PayloadTooLarge
from aiserve.registry.protocol import ModelEntry, require_ready
from aiserve.services.base import ModelService
from aiserve.services.fetch import fetch_image
from aiserve.services.meter import Meter
from aiserve.vision.decode import decode_base64, pixels

SHOWN = 3
"""Classes named in an image's description."""


@dataclass(frozen=True, slots=True)
class Image:
    """An image of a request, and the field it came in (for errors)."""

    url: str
    param: str


@dataclass(frozen=True, slots=True)
class Seen:
    """What the vision model saw: one description per image, in order."""

    model: str
    """The vision model's `id@version`."""
    descriptions: list[str]


def describe(number: int, model: str, output: ClassOutput) -> str:
    """The marked description of image `number` that goes into the prompt."""
    classes = ", ".join(f"{label} ({round(p * 100)}%)" for label, p in output.top[:SHOWN])
    return f"[Image {number}, as the image classifier {model} sees it: {classes}]"


class VisionBridge(ModelService):
    """Describes a request's images with the server's vision model."""

    def _model(self, meter: Meter, param: str) -> ModelEntry:
        """The vision model: a 400 naming the first image when there is none to see it (configuration the client
        cannot change, said plainly, rather than a 404 for a model it never named)."""
        name = self._settings.models.chat.images.vision_model
        if not name:
            raise InvalidInput("This server takes no images in chat: it has no vision model "
                               "(models.chat.images.vision_model).", param=param)  # fmt: skip
        try:
            entry = self._models.resolve(name)
        except ModelNotFound:
            raise InvalidInput(f"This server takes no images in chat now: its vision model '{name}' is not loaded "
                               "(list it in models.enabled).", param=param) from None  # fmt: skip
        if entry.spec.task != "classification":
            raise InvalidInput(f"The vision model '{name}' is a {entry.spec.task} model, not an image classifier; "
                               "set models.chat.images.vision_model to one.", param=param)  # fmt: skip
        meter.vision_model = entry.spec.key
        return require_ready(entry)

    def check(self, images: list[Image]) -> None:
        """Refuse too many images before anything is decoded or fetched."""
        most = self._settings.models.chat.images.max_per_request
        if len(images) > most:
            raise InvalidInput(f"The request has {len(images)} images; the limit is {most}.", param=images[most].param)

    async def see(self, images: list[Image], meter: Meter) -> Seen:
        """Each image's description, seen by the vision model (all at once: the batcher runs them together)."""
        self.check(images)
        entry = self._model(meter, images[0].param)
        datas = await asyncio.gather(*(self._bytes(image) for image in images))
        outputs = await asyncio.gather(*(self._classify(entry, data, image, meter) for data, image in
                                         zip(datas, images, strict=True)))  # fmt: skip
        meter.images = len(images)
        return Seen(entry.spec.key, [describe(n, entry.spec.id, o) for n, o in enumerate(outputs, start=1)])

    async def pictures(self, images: list[Image], entry: ModelEntry, meter: Meter) -> list[Picture]:
        """Each image's pixels, for `entry`, a chat model that sees for itself (it is named as the vision model)."""
        self.check(images)
        datas = await asyncio.gather(*(self._bytes(image) for image in images))
        pictures = await asyncio.gather(*(asyncio.to_thread(self._picture, data, image) for data, image in
                                          zip(datas, images, strict=True)))  # fmt: skip
        meter.images, meter.vision_model = len(images), entry.spec.key
        return pictures

    def _picture(self, data: bytes, image: Image) -> Picture:
        try:
            width, height, rgb = pixels(data, max_pixels=self._settings.models.classification.max_image_pixels,
                                        max_side=self._settings.models.chat.images.max_side)  # fmt: skip
        except InvalidInput as exc:  # the image itself is at fault: name its field
            raise type(exc)(exc.message, param=image.param) from None
        return Picture(width, height, rgb)

    async def _bytes(self, image: Image) -> bytes:
        settings = self._settings.models.chat.images
        url = image.url.strip()
        if url[:5].lower() == "data:":
            try:
                data = decode_base64(url)
            except InvalidInput as exc:
                raise InvalidInput(exc.message, param=image.param) from None
        elif url[:7].lower() == "http://" or url[:8].lower() == "https://":
            data = await fetch_image(url, settings, param=image.param)
        else:
            raise InvalidInput("An image is a data URL (data:image/jpeg;base64,...) or an http(s) URL.",
                               param=image.param)  # fmt: skip
        if len(data) > settings.max_bytes:
            raise PayloadTooLarge(f"The image has {len(data)} bytes, over the limit of {settings.max_bytes} "
                                  "(models.chat.images.max_bytes).", param=image.param)  # fmt: skip
        return data

    async def _classify(self, entry: ModelEntry, data: bytes, image: Image, meter: Meter) -> ClassOutput:
        try:
            done = await self._engine.run(
                entry.spec.key, [data], timeout_s=self._settings.server.request_timeout_s, owner=meter.owner
            )
        except InvalidInput as exc:  # the image itself is at fault: name its field
            raise type(exc)(exc.message, param=image.param) from None
        output: ClassOutput = done.outputs[0]
        return output
