"""Resize, centre-crop and normalise an RGB image into a model's input tensor, in one resampling step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image


@dataclass(frozen=True, slots=True)
class Transform:
    """Shorter side scaled to `resize`, then the centre `size`×`size` crop; pixels mapped by `normalize`:
    `tf` to [-1, 1] (TensorFlow / EfficientNet-Lite), `imagenet` by ImageNet mean and std."""

    size: int = 224
    resize: int = 256
    normalize: str = "tf"

    def crop_box(self, width: int, height: int) -> tuple[float, float, float, float]:
        """The region of the original image that ends up in the crop."""
        side = min(width, height) * self.size / self.resize
        left, top = (width - side) / 2, (height - side) / 2
        return (left, top, left + side, top + side)

    def __call__(
        self, image: Image.Image, box: tuple[float, float, float, float] | None = None, *, flip: bool = False
    ) -> NDArray[np.float32]:
        """A 3×size×size float32 array. The crop box is resampled directly, so a 10000×10 strip never becomes
        a 256000×256 intermediate. Training passes its own `box` and `flip` (see `vision.augment`); serving never
        does, so both see the same resampling and normalisation."""
        box = box or self.crop_box(*image.size)
        square = image.resize((self.size, self.size), Image.Resampling.BILINEAR, box=box, reducing_gap=3.0)
        if flip:
            square = square.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        pixels = np.asarray(square, dtype=np.float32) / 255.0
        pixels = (pixels - _MEAN) / _STD if self.normalize == "imagenet" else pixels * 2.0 - 1.0
        out: NDArray[np.float32] = np.ascontiguousarray(pixels.transpose(2, 0, 1), dtype=np.float32)
        return out


_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
