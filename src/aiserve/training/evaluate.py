"""Run a classifier over labelled images through the serving backend itself (same decoding, crop and
normalisation), and score it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aiserve.engine.backends.onnx_classifier import OnnxClassifierBackend
from aiserve.engine.protocol import ClassOutput
from aiserve.training.dataset import Sample
from aiserve.training.metrics import Metrics, compute_metrics
from aiserve.training.report import Prediction

OTHER = "(other)"
"""Where a prediction goes when the model answers a class the dataset does not have."""

Progress = Callable[[int, int], None]
Predict = Callable[[Sequence[Sample]], list[tuple[str, float]]]
"""Top class and confidence for each sample: the serving backend here, or a running server."""


@dataclass(slots=True)
class Evaluation:
    """Scores and every prediction."""

    metrics: Metrics
    predictions: list[Prediction]

    @property
    def wrong(self) -> list[Prediction]:
        """The misclassified examples, least confident mistakes last."""
        return sorted((p for p in self.predictions if p.true != p.predicted), key=lambda p: -p.confidence)


def open_classifier(folder: Path, options: Mapping[str, Any], *, threads: int) -> OnnxClassifierBackend:
    """The serving backend on `folder` (model.onnx + labels.json), on the CPU."""
    backend = OnnxClassifierBackend(folder, threads=threads, options={**options, "device": "cpu"})
    backend.load()
    return backend


def classify(
    backend: OnnxClassifierBackend, samples: Sequence[Sample], *, batch_size: int = 16, progress: Progress | None = None
) -> list[tuple[str, float]]:
    """`(label, confidence)` of the top class for each sample, in order."""
    out: list[tuple[str, float]] = []
    for start in range(0, len(samples), batch_size):
        chunk = samples[start : start + batch_size]
        for sample, result in zip(chunk, backend.run_batch([s.path.read_bytes() for s in chunk]), strict=True):
            if not isinstance(result, ClassOutput):
                raise ValueError(f"{sample.path}: {result}")
            out.append(result.top[0])
        if progress is not None:
            progress(len(out), len(samples))
    return out


def score(classes: Sequence[str], samples: Sequence[Sample], predicted: Sequence[tuple[str, float]]) -> Evaluation:
    """Metrics over `classes`, plus `(other)` when the model answered something outside them."""
    labels = list(classes)
    if any(label not in labels for label, _ in predicted):
        labels.append(OTHER)
    index = {label: i for i, label in enumerate(labels)}
    true = [index[s.label] for s in samples]
    guess = [index.get(label, index.get(OTHER, 0)) for label, _ in predicted]
    predictions = [
        Prediction(path=str(s.path), true=s.label, predicted=label, confidence=round(conf, 6))
        for s, (label, conf) in zip(samples, predicted, strict=True)
    ]
    return Evaluation(compute_metrics(labels, true, guess), predictions)


def evaluate(
    backend: OnnxClassifierBackend,
    classes: Sequence[str],
    samples: Sequence[Sample],
    *,
    batch_size: int = 16,
    progress: Progress | None = None,
) -> Evaluation:
    """Classify `samples` and score the answers."""
    return score(classes, samples, classify(backend, samples, batch_size=batch_size, progress=progress))


def pixels(backend: OnnxClassifierBackend, samples: Sequence[Sample]) -> np.ndarray[Any, np.dtype[np.float32]]:
    """The model inputs (N×3×H×W) the server would make from `samples`: calibration and latency data."""
    return backend.preprocess([s.path.read_bytes() for s in samples]).pixels
