"""Training-time augmentation as a crop box: a random scale and shift of the serving crop, so an augmented image
goes through exactly the resampling and normalisation that `Transform` applies when serving."""

from __future__ import annotations

import random
from dataclasses import dataclass

from aiserve.vision.preprocess import Transform


@dataclass(frozen=True, slots=True)
class Augment:
    """The crop side is scaled by a factor in `scale` and its centre moved by up to `shift` of the side;
    `flip` mirrors half of the images (leave it off for digits and text)."""

    scale: tuple[float, float] = (0.8, 1.0)
    shift: float = 0.08
    flip: bool = False

    def box(
        self, transform: Transform, width: int, height: int, rng: random.Random
    ) -> tuple[float, float, float, float]:
        """A jittered version of `transform.crop_box(width, height)`, kept inside the image."""
        left, top, right, bottom = transform.crop_box(width, height)
        side = min((right - left) * rng.uniform(*self.scale), width, height)
        cx = (left + right) / 2 + (right - left) * rng.uniform(-self.shift, self.shift)
        cy = (top + bottom) / 2 + (bottom - top) * rng.uniform(-self.shift, self.shift)
        x0 = min(max(cx - side / 2, 0.0), width - side)
        y0 = min(max(cy - side / 2, 0.0), height - side)
        return (x0, y0, x0 + side, y0 + side)

    def flips(self, rng: random.Random) -> bool:
        """Whether to mirror this image."""
        return self.flip and rng.random() < 0.5
