"""Classification metrics from class indices: the confusion matrix, accuracy, per-class precision, recall and F1,
and their macro and support-weighted averages. A ratio with a zero denominator is 0.0, as scikit-learn's
`zero_division=0` gives."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class ClassMetrics:
    """One class's scores; `support` is how many samples truly belong to it."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True, eq=False)
class Metrics:
    """Scores over a whole evaluation set. `matrix[t, p]` counts the samples of true class `t` predicted as `p`;
    it is read-only. Compared by identity, since an array has no single truth value."""

    labels: list[str]
    matrix: NDArray[np.int64]
    accuracy: float
    per_class: list[ClassMetrics]
    macro_precision: float
    macro_recall: float
    macro_f1: float
    weighted_f1: float
    total: int

    @property
    def correct(self) -> int:
        """How many samples were predicted as their true class."""
        return int(np.trace(self.matrix))

    @property
    def weighted_precision(self) -> float:
        """Precision averaged over classes, each weighted by its support."""
        return sum(c.precision * c.support for c in self.per_class) / self.total

    @property
    def weighted_recall(self) -> float:
        """Recall averaged over classes, each weighted by its support (equal to the accuracy)."""
        return sum(c.recall * c.support for c in self.per_class) / self.total

    def most_confused(self, limit: int = 10) -> list[tuple[str, str, int]]:
        """The largest off-diagonal cells as `(true, predicted, count)`, largest first; ties in matrix order."""
        off = self.matrix.copy()
        np.fill_diagonal(off, 0)
        order = np.argsort(-off, axis=None, kind="stable")[: max(limit, 0)]
        pairs = []
        for flat in order:
            t, p = divmod(int(flat), len(self.labels))
            if off[t, p] == 0:
                break
            pairs.append((self.labels[t], self.labels[p], int(off[t, p])))
        return pairs

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values only (the matrix as nested lists), ready for `json.dumps`."""
        return {
            "labels": list(self.labels),
            "matrix": self.matrix.tolist(),
            "accuracy": self.accuracy,
            "total": self.total,
            "correct": self.correct,
            "per_class": [
                {"label": c.label, "precision": c.precision, "recall": c.recall, "f1": c.f1, "support": c.support}
                for c in self.per_class
            ],
            "macro_precision": self.macro_precision,
            "macro_recall": self.macro_recall,
            "macro_f1": self.macro_f1,
            "weighted_precision": self.weighted_precision,
            "weighted_recall": self.weighted_recall,
            "weighted_f1": self.weighted_f1,
        }


def _ratio(numerator: NDArray[np.float64], denominator: NDArray[np.float64]) -> NDArray[np.float64]:
    out = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _indices(name: str, values: Sequence[int], classes: int) -> NDArray[np.int64]:
    array = np.asarray(values)
    if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name} must be a flat sequence of class indices.")
    array = array.astype(np.int64)
    if array.size and (array.min() < 0 or array.max() >= classes):
        raise ValueError(f"{name} holds a class index outside 0..{classes - 1}.")
    return array


def compute_metrics(labels: Sequence[str], true: Sequence[int], predicted: Sequence[int]) -> Metrics:
    """Score predictions against the truth. `labels[i]` names class index `i`; every label is scored, including
    those that never occur in `true` or in `predicted`. Raises ValueError on empty or mismatched input."""
    classes = len(labels)
    if classes == 0:
        raise ValueError("cannot compute metrics without class labels.")
    if len(true) == 0:
        raise ValueError("cannot compute metrics of an empty evaluation set: no predictions were given.")
    if len(true) != len(predicted):
        raise ValueError(f"true has {len(true)} items but predicted has {len(predicted)}.")
    t = _indices("true", true, classes)
    p = _indices("predicted", predicted, classes)

    matrix = np.bincount(t * classes + p, minlength=classes * classes).reshape(classes, classes).astype(np.int64)
    matrix.setflags(write=False)
    hits = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    predicted_count = matrix.sum(axis=0).astype(np.float64)
    precision = _ratio(hits, predicted_count)
    recall = _ratio(hits, support.astype(np.float64))
    f1 = _ratio(2.0 * hits, predicted_count + support)  # 2tp / (2tp + fp + fn)
    total = int(matrix.sum())

    per_class = [
        ClassMetrics(str(label), float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]))
        for i, label in enumerate(labels)
    ]
    return Metrics(
        labels=[str(label) for label in labels],
        matrix=matrix,
        accuracy=float(hits.sum() / total),
        per_class=per_class,
        macro_precision=float(precision.mean()),
        macro_recall=float(recall.mean()),
        macro_f1=float(f1.mean()),
        weighted_f1=float((f1 * support).sum() / total),
        total=total,
    )
