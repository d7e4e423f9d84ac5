"""Image classification on ONNX Runtime: decode, resize and crop, one batched forward pass, softmax."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from aiserve.engine.backends._ort import open_session
from aiserve.engine.backends.base import ModelBackend
from aiserve.engine.backends.options import BackendOptions
from aiserve.engine.protocol import ClassOutput
from aiserve.errors import AiserveError
from aiserve.vision.decode import open_image, to_rgb
from aiserve.vision.preprocess import Transform

FloatArray = NDArray[np.float32]
ImageInput = bytes | FloatArray | AiserveError
"""An image as sent (encoded bytes), or prepared: its model-ready pixels, or why it cannot be read."""


@dataclass(frozen=True, slots=True)
class ImageBatch:
    """Pixel tensors for the images that decoded, and errors for those that did not."""

    pixels: FloatArray
    rows: list[int]
    errors: dict[int, AiserveError]
    size: int


class OnnxClassifierOptions(BackendOptions):
    """What an ONNX image classifier reads."""

    image_size: int = Field(default=224, gt=0)
    """The model's input: a square crop of this many pixels a side."""
    resize: int = Field(default=256, gt=0)
    """The image's shorter side is scaled to this before the centre crop."""
    normalize: Literal["tf", "imagenet"] = "tf"
    """How pixels are mapped: `tf` to [-1, 1] (EfficientNet-Lite), `imagenet` by ImageNet mean and std."""
    max_pixels: int = Field(default=40_000_000, gt=0)
    """Larger images are refused before decoding (the registry sets `models.classification.max_image_pixels`)."""
    top_k_max: int = Field(default=20, gt=0)
    """The most classes returned per image."""


class OnnxClassifierBackend(ModelBackend[ImageInput, ImageBatch, FloatArray, ClassOutput]):
    """An ONNX classifier (`model.onnx`, input N×3×H×W, output N×classes logits) with `labels.json`.

    Options: `OnnxClassifierOptions`. Images are decoded as they arrive (`prepare`), overlapping the forward pass.
    """

    task = "classification"
    runtime = "onnxruntime"
    Options = OnnxClassifierOptions
    prepares = True

    def __init__(self, model_dir: Path, *, threads: int, options: Mapping[str, Any]) -> None:
        super().__init__(model_dir, threads=threads, options=options)
        self.opts = OnnxClassifierOptions.parse(options, model=model_dir.name)
        self.transform = Transform(size=self.opts.image_size, resize=self.opts.resize, normalize=self.opts.normalize)
        self.labels: list[str] = []
        self._session: Any = None
        self._input = "input"

    def load(self) -> None:
        """Open the session and read the labels."""
        self.labels = json.loads((self.model_dir / "labels.json").read_text())
        self._session = open_session(self.model_dir / "model.onnx", threads=self.threads, device=self.device)
        self._input = self._session.get_inputs()[0].name

    def unload(self) -> None:
        """Drop the session."""
        self._session = None

    def prepare(self, item: ImageInput) -> FloatArray | AiserveError:
        """Decode one image safely and crop it to the model's input (Pillow decodes without holding the GIL)."""
        if not isinstance(item, bytes):
            return item
        try:
            image = to_rgb(open_image(item, max_pixels=self.opts.max_pixels), draft_size=self.transform.resize)
            return self.transform(image)
        except AiserveError as exc:
            return exc

    def preprocess(self, items: Sequence[ImageInput]) -> ImageBatch:
        """The batch's pixels, preparing the images not prepared yet; bad images fail alone."""
        arrays: list[FloatArray] = []
        rows: list[int] = []
        errors: dict[int, AiserveError] = {}
        for i, item in enumerate(items):
            prepared = self.prepare(item)
            if isinstance(prepared, AiserveError):
                errors[i] = prepared
            else:
                arrays.append(prepared)
                rows.append(i)
        size = self.transform.size
        pixels = np.stack(arrays) if arrays else np.zeros((0, 3, size, size), dtype=np.float32)
        return ImageBatch(pixels, rows, errors, len(items))

    def forward(self, batch: ImageBatch) -> FloatArray:
        """Logits for the decoded images."""
        if not batch.rows:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        logits: FloatArray = np.asarray(self._session.run(None, {self._input: batch.pixels})[0], dtype=np.float32)
        return logits

    def postprocess(self, raw: FloatArray, batch: ImageBatch) -> list[ClassOutput | AiserveError]:
        """Softmax, then the `top_k_max` best classes of each image, best first."""
        out: list[ClassOutput | AiserveError] = [batch.errors.get(i, _UNSET) for i in range(batch.size)]
        if batch.rows:
            shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
            probs = shifted / shifted.sum(axis=1, keepdims=True)
            k = min(self.opts.top_k_max, probs.shape[1])
            for row, index in enumerate(batch.rows):
                best = np.argpartition(-probs[row], k - 1)[:k]
                best = best[np.argsort(-probs[row][best])]
                out[index] = ClassOutput(top=[(self.labels[j], float(probs[row][j])) for j in best])
        return out

    def warmup_items(self, n: int) -> list[ImageInput]:
        """A small generated JPEG."""
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.new("RGB", (320, 240), (120, 160, 200)).save(buffer, "JPEG")
        return [buffer.getvalue()] * n

    def info(self) -> dict[str, Any]:
        """Class count and input size."""
        return {"num_labels": len(self.labels), "image_size": self.transform.size, "device": self.device}


_UNSET = AiserveError("image was not processed")
