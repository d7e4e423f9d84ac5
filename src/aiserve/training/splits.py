"""`split.json`: which images a model was trained, validated and tested on, kept beside it so `aiserve eval` and
`aiserve export --quantize` use the same test images (and calibrate on training images) without being told."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from aiserve.training.dataset import SPLITS, Dataset, DatasetError, Sample, Summary

FILE = "split.json"


def save(dataset: Dataset, folder: Path) -> None:
    """Write the dataset's classes and splits (absolute paths) into `folder`."""
    payload = {
        "source": dataset.summary.source,
        "classes": dataset.classes,
        **{name: [[str(s.path.resolve()), s.label] for s in dataset.splits[name]] for name in SPLITS},
    }
    (folder / FILE).write_text(json.dumps(payload, indent=1))


def load(folder: Path, model: str) -> tuple[list[str], dict[str, list[Sample]]]:
    """The classes and splits a model was trained with; a clear error when it was not trained here."""
    try:
        payload = json.loads((folder / FILE).read_text())
    except (OSError, ValueError):
        raise DatasetError(
            f"{model} was not trained here, so it has no test images of its own; pass --data DIR."
        ) from None
    splits = {name: [Sample(Path(path), label) for path, label in payload.get(name, [])] for name in SPLITS}
    missing = [s.path for samples in splits.values() for s in samples if not s.path.is_file()]
    if missing:
        raise DatasetError(
            f"{len(missing)} images {model} was trained on are gone (first: {missing[0]}); pass --data DIR."
        )
    return list(payload["classes"]), splits


def dataset(folder: Path, model: str) -> Dataset:
    """The dataset a model was trained with, split as it was (to fine-tune it again on the same images)."""
    classes, saved = load(folder, model)
    source = json.loads((folder / FILE).read_text()).get("source", model)
    counts = {name: dict(Counter(s.label for s in samples)) for name, samples in saved.items()}
    return Dataset(classes, saved, Summary(source=source, classes=classes, counts=counts, sizes={}, modes={}))
