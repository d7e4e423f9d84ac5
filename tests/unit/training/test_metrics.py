"""Classification metrics agree with scikit-learn, including classes never predicted and classes never present."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import (  # type: ignore[import-untyped]
    accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
)

from aiserve.training.metrics import compute_metrics

pytestmark = pytest.mark.unit

LABELS = ["cat", "dog", "bird", "never-predicted", "never-present"]


def _random_run(seed: int, size: int = 300) -> tuple[list[int], list[int]]:
    """True classes avoid index 4; predictions avoid index 3."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, 4, size)
    predicted = np.where(rng.random(size) < 0.6, true, rng.choice([0, 1, 2, 4], size))
    predicted = np.where(predicted == 3, 4, predicted)
    return true.tolist(), predicted.tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_scikit_learn(seed: int) -> None:
    true, predicted = _random_run(seed)
    assert 3 in true
    assert 3 not in predicted
    assert 4 not in true
    assert 4 in predicted
    every = list(range(len(LABELS)))

    metrics = compute_metrics(LABELS, true, predicted)

    np.testing.assert_array_equal(metrics.matrix, confusion_matrix(true, predicted, labels=every))
    assert metrics.matrix.dtype == np.int64
    assert metrics.accuracy == pytest.approx(accuracy_score(true, predicted))
    assert metrics.total == len(true)
    precision, recall, f1, support = precision_recall_fscore_support(true, predicted, labels=every, zero_division=0)
    assert [c.label for c in metrics.per_class] == LABELS
    assert [c.precision for c in metrics.per_class] == pytest.approx(precision.tolist())
    assert [c.recall for c in metrics.per_class] == pytest.approx(recall.tolist())
    assert [c.f1 for c in metrics.per_class] == pytest.approx(f1.tolist())
    assert [c.support for c in metrics.per_class] == support.tolist()
    assert metrics.per_class[3].precision == 0.0  # never predicted
    assert metrics.per_class[4].recall == 0.0  # never present
    assert metrics.per_class[4].support == 0

    macro = precision_recall_fscore_support(true, predicted, labels=every, average="macro", zero_division=0)
    assert (metrics.macro_precision, metrics.macro_recall, metrics.macro_f1) == pytest.approx(macro[:3])
    weighted = precision_recall_fscore_support(true, predicted, labels=every, average="weighted", zero_division=0)
    assert (metrics.weighted_precision, metrics.weighted_recall, metrics.weighted_f1) == pytest.approx(weighted[:3])


def test_perfect_predictions_score_one() -> None:
    metrics = compute_metrics(["a", "b"], [0, 1, 1], [0, 1, 1])
    assert metrics.accuracy == 1.0
    assert metrics.macro_f1 == 1.0
    assert metrics.most_confused() == []


def test_most_confused_pairs_are_largest_first() -> None:
    metrics = compute_metrics(["a", "b", "c"], [0, 0, 0, 1, 2, 2], [1, 1, 2, 1, 0, 2])
    assert metrics.most_confused() == [("a", "b", 2), ("a", "c", 1), ("c", "a", 1)]
    assert metrics.most_confused(1) == [("a", "b", 2)]


def test_to_dict_is_json_ready() -> None:
    metrics = compute_metrics(["a", "b"], [0, 1, 1, 0], [0, 0, 1, 0])
    data = json.loads(json.dumps(metrics.to_dict()))
    assert data["matrix"] == [[2, 0], [1, 1]]
    assert data["labels"] == ["a", "b"]
    assert data["accuracy"] == 0.75
    assert data["per_class"][1] == {
        "label": "b",
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "support": 2,
    }


def test_the_matrix_is_read_only() -> None:
    metrics = compute_metrics(["a", "b"], [0, 1], [0, 1])
    with pytest.raises(ValueError, match="read-only"):
        metrics.matrix[0, 0] = 5


def test_empty_input_is_refused() -> None:
    with pytest.raises(ValueError, match="empty evaluation set"):
        compute_metrics(["a", "b"], [], [])


@pytest.mark.parametrize(
    ("labels", "true", "predicted", "message"),
    [
        ([], [0], [0], "without class labels"),
        (["a", "b"], [0, 1], [0], "true has 2 items but predicted has 1"),
        (["a", "b"], [0, 2], [0, 1], "outside 0..1"),
        (["a", "b"], [0, 1], [0, -1], "predicted holds a class index outside"),
    ],
)
def test_bad_input_is_refused(labels: list[str], true: list[int], predicted: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compute_metrics(labels, true, predicted)
