"""Labelled images: an image folder (one subfolder per class), split folders (`train/`, `val/`, `test/`) or a CSV of
`path,label`; checked, summarised and split deterministically by a seed."""

from __future__ import annotations

import csv
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiserve.errors import AiserveError
from aiserve.vision.decode import open_image, to_rgb

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp"})
SPLITS = ("train", "val", "test")
_SPLIT_ALIASES = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}
MAX_PIXELS = 40_000_000


class DatasetError(AiserveError):
    """A dataset that cannot be trained or evaluated on, with what to fix."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One labelled image."""

    path: Path
    label: str


@dataclass(slots=True)
class Summary:
    """What was found: class counts per split, image sizes and modes, and the files skipped."""

    source: str
    classes: list[str]
    counts: dict[str, dict[str, int]]
    """`counts[split][class]`."""
    sizes: dict[str, int]
    """`"WxH"` → how many images, most common first."""
    modes: dict[str, int]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """`(path, reason)` for every unreadable file."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "source": self.source,
            "classes": self.classes,
            "counts": self.counts,
            "sizes": self.sizes,
            "modes": self.modes,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
        }


@dataclass(slots=True)
class Dataset:
    """Classes in a fixed (sorted) order and the three splits."""

    classes: list[str]
    splits: dict[str, list[Sample]]
    summary: Summary

    def index(self, sample: Sample) -> int:
        """The class number of a sample."""
        return self.classes.index(sample.label)


def load_dataset(
    source: Path,
    *,
    val: float = 0.15,
    test: float = 0.15,
    seed: int = 0,
    split: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Dataset:
    """Read and check `source`, decoding every image once (`progress(done, total)` follows it). With `split`,
    images not already in split folders are divided per class into train/val/test by `seed` (the same seed always
    gives the same split); without, the test/ folder or else everything is `test` (for evaluating)."""
    if not source.exists():
        raise DatasetError(f"The dataset '{source}' does not exist.")
    if not 0 <= val < 1 or not 0 <= test < 1 or val + test >= 1:
        raise DatasetError(
            f"The validation and test fractions ({val}, {test}) must be in [0, 1) and leave some for training."
        )
    found = _scan(source)
    readable, skipped, sizes, modes = _check([s for samples in found.values() for s in samples], progress)
    given = {name: [s for s in samples if s in readable] for name, samples in found.items()}
    if "all" in given:
        everything = given.pop("all")
        given.update(_split(everything, val, test, seed) if split else {"train": [], "val": [], "test": everything})
    elif not split:  # evaluating: a test/ folder if there is one, else everything
        chosen = given["test"] if given.get("test") else [s for samples in given.values() for s in samples]
        given = {"train": [], "val": [], "test": chosen}
    classes = _classes(source, found, given, skipped)
    splits = {name: given.get(name, []) for name in SPLITS}
    counts = {name: dict(sorted(Counter(s.label for s in splits[name]).items())) for name in SPLITS}
    summary = Summary(
        source=str(source),
        classes=classes,
        counts=counts,
        sizes=dict(sizes.most_common()),
        modes=dict(modes.most_common()),
        skipped=skipped,
    )
    return Dataset(classes, splits, summary)


def _scan(source: Path) -> dict[str, list[Sample]]:
    """Samples per given split, or under `all` when the source is not split."""
    if source.is_file():
        return {"all": _read_csv(source)}
    children = {p.name.lower(): p for p in source.iterdir() if p.is_dir()}
    named = {
        split: next((children[a] for a in names if a in children), None) for split, names in _SPLIT_ALIASES.items()
    }
    if named["train"] is not None or named["test"] is not None:
        return {split: _read_folder(folder) for split, folder in named.items() if folder is not None}
    return {"all": _read_folder(source)}


def _read_folder(folder: Path) -> list[Sample]:
    samples = []
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(class_dir.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                samples.append(Sample(path, class_dir.name))
        if not any(s.label == class_dir.name for s in samples):
            samples.append(Sample(class_dir, class_dir.name))  # kept so the empty class is reported by name
    return samples


def _read_csv(path: Path) -> list[Sample]:
    """Rows `path,label` (a header row naming them is skipped); paths relative to the CSV's folder."""
    try:
        with path.open(newline="") as f:
            rows = [row for row in csv.reader(f) if row and any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"Cannot read the CSV '{path}': {exc}") from None
    if rows and [c.strip().lower() for c in rows[0][:2]] in (["path", "label"], ["file", "label"], ["image", "label"]):
        rows = rows[1:]
    samples = []
    for number, row in enumerate(rows, start=1):
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise DatasetError(f"{path}, row {number}: expected 'path,label', got {','.join(row)!r}.")
        file = Path(row[0].strip())
        samples.append(Sample(file if file.is_absolute() else path.parent / file, row[1].strip()))
    return samples


def _check(
    samples: list[Sample], progress: Callable[[int, int], None] | None
) -> tuple[set[Sample], list[tuple[str, str]], Counter[str], Counter[str]]:
    """Decode every image once; the unreadable ones are listed with the reason, not fatal."""
    readable: set[Sample] = set()
    skipped: list[tuple[str, str]] = []
    sizes: Counter[str] = Counter()
    modes: Counter[str] = Counter()
    for done, sample in enumerate(samples, start=1):
        if progress is not None and (done % 64 == 0 or done == len(samples)):
            progress(done, len(samples))
        if sample.path.is_dir():
            continue
        if sample.path.suffix.lower() not in IMAGE_SUFFIXES:
            skipped.append((str(sample.path), f"not an image file ({sample.path.suffix or 'no extension'})"))
            continue
        try:
            image = open_image(sample.path.read_bytes(), max_pixels=MAX_PIXELS)
            mode = image.mode
            to_rgb(image)
        except (AiserveError, OSError) as exc:
            reason = str(exc).removeprefix("Invalid image: ")
            skipped.append((str(sample.path), reason))
            continue
        readable.add(sample)
        sizes[f"{image.size[0]}x{image.size[1]}"] += 1
        modes[mode] += 1
    return readable, skipped, sizes, modes


def _classes(
    source: Path, found: dict[str, list[Sample]], given: dict[str, list[Sample]], skipped: list[tuple[str, str]]
) -> list[str]:
    named = sorted({s.label for samples in found.values() for s in samples})
    usable = Counter(s.label for samples in given.values() for s in samples)
    if not named:
        hint = "one subfolder per class, split folders train/ val/ test/, or a CSV of path,label"
        raise DatasetError(f"No images in '{source}': expected {hint}.")
    empty = [name for name in named if not usable[name]]
    if empty:
        why = f" ({len(skipped)} unreadable files skipped)" if skipped else ""
        raise DatasetError(f"No readable images for class {', '.join(repr(n) for n in empty)} in '{source}'{why}.")
    if len(named) < 2:
        raise DatasetError(f"'{source}' has one class ({named[0]!r}); a classifier needs at least two.")
    return named


def _split(samples: list[Sample], val: float, test: float, seed: int) -> dict[str, list[Sample]]:
    """Per class (stratified), shuffled by `seed`; every class keeps at least one training image."""
    out: dict[str, list[Sample]] = {name: [] for name in SPLITS}
    by_class: dict[str, list[Sample]] = {}
    for sample in sorted(samples, key=lambda s: (s.label, str(s.path))):
        by_class.setdefault(sample.label, []).append(sample)
    for label, group in by_class.items():
        random.Random(f"{seed}:{label}").shuffle(group)
        n_test = min(round(len(group) * test), len(group) - 1)
        n_val = min(round(len(group) * val), len(group) - 1 - n_test)
        out["test"] += group[:n_test]
        out["val"] += group[n_test : n_test + n_val]
        out["train"] += group[n_test + n_val :]
    return out
