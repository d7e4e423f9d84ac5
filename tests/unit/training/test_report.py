"""The evaluation report: the confusion PNG is drawn from the matrix (read back from its pixels), and the report's
files hold what was measured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from aiserve.training.metrics import compute_metrics
from aiserve.training.report import (
    CONFUSION_DPI,
    CONFUSION_METADATA_KEY,
    Prediction,
    confusion_figsize,
    plot_confusion,
    plot_history,
    plot_misclassified,
    write_eval_report,
)

pytestmark = pytest.mark.unit


def _read_confusion(path: Path) -> tuple[Image.Image, dict[str, Any]]:
    image = Image.open(path)
    image.load()
    assert isinstance(image, Image.Image)
    payload = json.loads(image.info[CONFUSION_METADATA_KEY])
    assert isinstance(payload, dict)
    return image.convert("RGB"), payload


def _cell_luminance(image: Image.Image, cells: dict[str, float], classes: int) -> NDArray[np.float64]:
    """The luminance of each cell's background: the most common colour in a window around the cell's centre
    (the count written there covers a minority of it)."""
    pixels = np.asarray(image, dtype=np.int64)
    width = (cells["x1"] - cells["x0"]) / classes
    height = (cells["y1"] - cells["y0"]) / classes
    out = np.zeros((classes, classes))
    for row in range(classes):
        for column in range(classes):
            cx, cy = cells["x0"] + (column + 0.5) * width, cells["y0"] + (row + 0.5) * height
            rx, ry = max(1, int(width * 0.35)), max(1, int(height * 0.35))
            window = pixels[int(cy) - ry : int(cy) + ry + 1, int(cx) - rx : int(cx) + rx + 1].reshape(-1, 3)
            colours, counts = np.unique(window, axis=0, return_counts=True)
            r, g, b = colours[np.argmax(counts)]
            out[row, column] = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return out


def _assert_darker_with_count(matrix: NDArray[np.int64], luminance: NDArray[np.float64]) -> None:
    by_count: dict[int, set[float]] = {}
    for count, lum in zip(matrix.ravel().tolist(), luminance.ravel().tolist(), strict=True):
        by_count.setdefault(count, set()).add(lum)
    assert all(len(values) == 1 for values in by_count.values()), f"equal counts, unequal colours: {by_count}"
    ordered = [by_count[count].pop() for count in sorted(by_count)]
    assert all(a > b for a, b in zip(ordered, ordered[1:], strict=False)), f"not darker with count: {ordered}"


@pytest.mark.parametrize("classes", [3, 6, 40])
def test_the_confusion_png_is_drawn_from_the_matrix(tmp_path: Path, classes: int) -> None:
    rng = np.random.default_rng(classes)
    distinct = min(classes * classes, 12)  # a dozen well separated counts, each level used several times
    levels = np.arange(distinct) * 7
    matrix = rng.choice(levels, size=(classes, classes)).astype(np.int64)
    matrix[0, 0] = levels[-1]
    labels = [f"class {i}" for i in range(classes)]
    path = tmp_path / "confusion.png"

    plot_confusion(matrix, labels, path)

    image, payload = _read_confusion(path)
    width, height = confusion_figsize(classes)
    assert image.size == (round(width * CONFUSION_DPI), round(height * CONFUSION_DPI))
    assert payload["labels"] == labels
    assert payload["matrix"] == matrix.tolist()
    cells = payload["cells"]
    assert 0 < cells["x0"] < cells["x1"] <= image.width
    assert 0 < cells["y0"] < cells["y1"] <= image.height
    _assert_darker_with_count(matrix, _cell_luminance(image, cells, classes))


def test_the_heatmap_fills_the_cells_box(tmp_path: Path) -> None:
    matrix = np.array([[9, 0], [0, 9]], dtype=np.int64)
    plot_confusion(matrix, ["a", "b"], tmp_path / "c.png")
    image, payload = _read_confusion(tmp_path / "c.png")
    cells = payload["cells"]
    pixels = np.asarray(image, dtype=np.int64)
    inside = pixels[int(cells["y0"]) + 3, int(cells["x0"]) + 3]
    outside = pixels[int(cells["y0"]) + 3, int(cells["x0"]) - 4]
    assert inside.sum() < 200  # the top-left cell holds the largest count: the darkest blue
    assert outside.tolist() == [255, 255, 255]


def test_the_confusion_figure_grows_with_the_class_count_within_bounds() -> None:
    sizes = [confusion_figsize(n)[0] for n in (1, 3, 8, 15, 25, 200)]
    assert sizes == sorted(sizes)
    assert sizes[1] < sizes[3] < sizes[4]
    assert sizes[0] >= 4.0
    assert sizes[-1] <= 16.0


def test_confusion_refuses_a_matrix_of_the_wrong_shape(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must be 3×3"):
        plot_confusion(np.zeros((2, 2), dtype=np.int64), ["a", "b", "c"], tmp_path / "c.png")


def _images(tmp_path: Path, count: int) -> list[str]:
    paths = []
    for index in range(count):
        path = tmp_path / "images" / f"img{index}.png"
        path.parent.mkdir(exist_ok=True)
        Image.new("L" if index % 2 else "RGB", (40 + index, 30), 40 * index).save(path)
        paths.append(str(path))
    return paths


def _predictions(paths: list[str], labels: list[str], true: list[int], guess: list[int]) -> list[Prediction]:
    return [
        Prediction(path=path, true=labels[t], predicted=labels[g], confidence=0.5 + 0.05 * i)
        for i, (path, t, g) in enumerate(zip(paths, true, guess, strict=True))
    ]


def test_write_eval_report_writes_every_file(tmp_path: Path) -> None:
    labels = ["apple", "banana", "cherry"]
    true, guess = [0, 0, 1, 1, 2, 2, 2], [0, 1, 1, 1, 2, 0, 2]
    metrics = compute_metrics(labels, true, guess)
    predictions = _predictions(_images(tmp_path, len(true)), labels, true, guess)

    files = write_eval_report(
        tmp_path / "out",
        model="fruit-v1",
        data="data/fruit",
        metrics=metrics,
        predictions=predictions,
        extra={"epochs": 3},
    )

    assert files.misclassified is not None
    for path in (files.json, files.markdown, files.confusion, files.misclassified):
        assert path.is_file()
        assert path.parent == tmp_path / "out"
    with Image.open(files.misclassified) as image:
        assert image.format == "PNG"
    report = json.loads(files.json.read_text(encoding="utf-8"))
    assert report["model"] == "fruit-v1"
    assert report["data"] == "data/fruit"
    assert report["epochs"] == 3
    assert report["metrics"] == metrics.to_dict()
    assert report["metrics"]["matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    assert [(p["true"], p["predicted"]) for p in report["misclassified"]] == [("cherry", "apple"), ("apple", "banana")]
    markdown = files.markdown.read_text(encoding="utf-8")
    assert f"{metrics.accuracy:.1%}" in markdown
    assert all(label in markdown for label in labels)
    assert "](confusion.png)" in markdown
    assert "](misclassified.png)" in markdown
    assert Path(predictions[5].path).as_posix() in markdown


def test_no_misclassified_png_when_every_prediction_is_right(tmp_path: Path) -> None:
    labels = ["a", "b"]
    true = [0, 1, 1]
    metrics = compute_metrics(labels, true, true)
    predictions = _predictions(_images(tmp_path, 3), labels, true, true)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "misclassified.png").write_bytes(b"from an earlier run")

    files = write_eval_report(tmp_path / "out", model="m", data="d", metrics=metrics, predictions=predictions)

    assert files.misclassified is None
    assert not (tmp_path / "out" / "misclassified.png").exists()
    assert files.confusion.is_file()
    assert "misclassified.png" not in files.markdown.read_text(encoding="utf-8")
    assert json.loads(files.json.read_text(encoding="utf-8"))["misclassified"] == []


def test_extra_may_not_replace_the_report_keys(tmp_path: Path) -> None:
    metrics = compute_metrics(["a"], [0], [0])
    with pytest.raises(ValueError, match="model"):
        write_eval_report(tmp_path, model="m", data="d", metrics=metrics, predictions=[], extra={"model": "x"})


def test_plot_misclassified_writes_nothing_without_mistakes(tmp_path: Path) -> None:
    paths = _images(tmp_path, 2)
    right = [Prediction(path=p, true="a", predicted="a", confidence=0.9) for p in paths]
    assert plot_misclassified(right, tmp_path / "m.png") is False
    assert not (tmp_path / "m.png").exists()


def test_plot_misclassified_survives_an_unreadable_file(tmp_path: Path) -> None:
    wrong = [
        Prediction(path=str(tmp_path / "missing.png"), true="a", predicted="b", confidence=0.7),
        *(Prediction(path=p, true="b", predicted="a", confidence=0.6) for p in _images(tmp_path, 30)),
    ]
    assert plot_misclassified(wrong, tmp_path / "m.png", limit=7) is True
    with Image.open(tmp_path / "m.png") as image:
        assert image.format == "PNG"


def test_plot_history_writes_a_png(tmp_path: Path) -> None:
    history = [
        {"epoch": epoch, "train_loss": 1.0 / epoch, "val_loss": 1.2 / epoch, "val_accuracy": 0.5 + 0.1 * epoch}
        for epoch in range(1, 5)
    ]
    plot_history(history, tmp_path / "history.png")
    with Image.open(tmp_path / "history.png") as image:
        assert image.format == "PNG"
        assert image.size == (10 * CONFUSION_DPI, 4 * CONFUSION_DPI)


def test_plot_history_needs_epochs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="without epochs"):
        plot_history([], tmp_path / "history.png")
