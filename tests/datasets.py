"""Labelled image folders made from data that ships in packages: scikit-learn's digits, scikit-image's faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_digits(root: Path, *, per_class: int | None = None) -> Path:
    """`load_digits()` (1,797 8×8 images, 16 grey levels) as `root/<digit>/<n>.png`."""
    from sklearn.datasets import load_digits  # type: ignore[import-untyped]

    digits = load_digits()
    counts: dict[int, int] = {}
    for i, (image, target) in enumerate(zip(digits.images, digits.target, strict=True)):
        if per_class is not None and counts.get(int(target), 0) >= per_class:
            continue
        counts[int(target)] = counts.get(int(target), 0) + 1
        folder = root / str(target)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 255 / 16).astype(np.uint8), "L").save(folder / f"{i:04d}.png")
    return root


def write_faces(root: Path) -> Path:
    """`lfw_subset()` (100 faces, then 100 non-faces, 25×25 grey) as `root/face/` and `root/other/`."""
    from skimage.data import lfw_subset

    for i, image in enumerate(lfw_subset()):  # type: ignore[no-untyped-call]
        folder = root / ("face" if i < 100 else "other")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 255).astype(np.uint8), "L").save(folder / f"{i:03d}.png")
    return root


if __name__ == "__main__":  # python -m tests.datasets digits|faces DIR
    import sys

    kind, where = sys.argv[1], Path(sys.argv[2])
    {"digits": write_digits, "faces": write_faces}[kind](where)
