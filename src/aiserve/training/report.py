"""The evaluation report: `report.json`, a Markdown summary and its figures (the confusion matrix, the misclassified
images, training curves). Figures are drawn on their own Agg canvas, so no global matplotlib state is touched."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from numpy.typing import NDArray
from PIL import Image, ImageOps

from aiserve.training.metrics import Metrics

CONFUSION_DPI = 100
"""Every figure is saved at this resolution, so a figure's pixel size is its size in inches times this."""
CONFUSION_METADATA_KEY = "aiserve:confusion"
"""The PNG text key holding `{"labels", "matrix", "cells"}`; `cells` is the heatmap's pixel box (origin top-left)."""
MAX_ANNOTATED_CLASSES = 30
"""Above this many classes the counts are not written in the cells."""

_CMAP = "Blues"
_MAX_LABEL_CHARS = 24
_REPORTED_MISTAKES = 20


@dataclass(frozen=True, slots=True)
class Prediction:
    """One evaluated image: its file, true and predicted label, and the predicted label's probability."""

    path: str
    true: str
    predicted: str
    confidence: float


@dataclass(frozen=True, slots=True)
class EvalFiles:
    """What `write_eval_report` wrote; `misclassified` is None when every prediction was right."""

    json: Path
    markdown: Path
    confusion: Path
    misclassified: Path | None


def _short(label: str, limit: int = _MAX_LABEL_CHARS) -> str:
    limit = max(limit, 4)
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=CONFUSION_DPI)
    FigureCanvasAgg(figure)
    return figure


def confusion_figsize(classes: int) -> tuple[float, float]:
    """The confusion figure's size in inches: it grows with the class count, from 4 to 16 inches square."""
    side = float(min(16.0, max(4.0, 2.5 + 0.5 * classes)))
    return (side, side)


def _annotate(axes: Axes, matrix: NDArray[np.int64], norm: Normalize, cell_points: float) -> None:
    digits = max(2, len(str(int(matrix.max()))))
    size = max(4.0, min(10.0, cell_points * 0.8 / (0.62 * digits)))
    for (row, column), count in np.ndenumerate(matrix):
        dark = float(norm(float(count))) > 0.5
        axes.text(column, row, str(count), ha="center", va="center", fontsize=size, color="white" if dark else "black")


def plot_confusion(matrix: NDArray[np.int64], labels: Sequence[str], path: Path) -> None:
    """A heatmap of `matrix` (rows: true class, columns: predicted), counts in the cells, saved as PNG. The PNG
    also carries the labels, the matrix and the heatmap's pixel box under `CONFUSION_METADATA_KEY`."""
    counts = np.asarray(matrix, dtype=np.int64)
    classes = len(labels)
    if counts.shape != (classes, classes) or classes == 0:
        raise ValueError(f"a confusion matrix for {classes} labels must be {classes}×{classes}, not {counts.shape}.")
    side, _ = confusion_figsize(classes)
    tick_size = 9.0 if classes <= 20 else max(4.0, 9.0 - (classes - 20) * 0.05)
    char_inches = tick_size * 0.6 / 72
    longest = min(max(len(str(label)) for label in labels), _MAX_LABEL_CHARS)
    margin = min(0.6 + longest * char_inches, side * 0.35)  # left and bottom: tick labels and axis titles
    names = [_short(str(label), int((margin - 0.6) / char_inches)) for label in labels]
    top, right = 0.45, 1.05  # the title; the colour bar
    figure = _new_figure(side, side)
    axes = figure.add_axes((margin / side, margin / side, (side - margin - right) / side, (side - margin - top) / side))
    colorbar_axes = figure.add_axes(
        ((side - right + 0.15) / side, margin / side, 0.15 / side, (side - margin - top) / side)
    )

    norm = Normalize(vmin=0.0, vmax=float(max(int(counts.max()), 1)))
    image = axes.imshow(counts, cmap=_CMAP, norm=norm, interpolation="nearest", aspect="auto")
    figure.colorbar(image, cax=colorbar_axes)
    ticks = list(range(classes))
    axes.set_xticks(ticks, names, rotation=45, ha="right", rotation_mode="anchor", fontsize=tick_size, parse_math=False)
    axes.set_yticks(ticks, names, fontsize=tick_size, parse_math=False)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"confusion matrix ({int(counts.sum())} samples)")
    if classes <= MAX_ANNOTATED_CLASSES:
        _annotate(axes, counts, norm, (side - margin - right) * 72 / classes)

    figure.canvas.draw()
    height = figure.bbox.height
    (x0, y0), (x1, y1) = axes.transData.transform([(-0.5, -0.5), (classes - 0.5, classes - 0.5)])
    cells = {"x0": min(x0, x1), "x1": max(x0, x1), "y0": height - max(y0, y1), "y1": height - min(y0, y1)}
    payload = {"labels": [str(label) for label in labels], "matrix": counts.tolist(), "cells": cells}
    figure.savefig(path, dpi=CONFUSION_DPI, metadata={CONFUSION_METADATA_KEY: json.dumps(payload)})


def _mistakes(predictions: Sequence[Prediction]) -> list[Prediction]:
    """The wrong predictions, most confident first."""
    wrong = [p for p in predictions if p.true != p.predicted]
    return sorted(wrong, key=lambda p: -p.confidence)


def _thumbnail(path: str) -> NDArray[np.uint8] | None:
    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except (OSError, ValueError):
        return None
    image.thumbnail((256, 256))
    return np.asarray(image, dtype=np.uint8)


def plot_misclassified(predictions: Sequence[Prediction], path: Path, limit: int = 25) -> bool:
    """A grid of the wrong predictions' images (most confident mistakes first, at most `limit`), each titled
    "true → predicted (confidence)". Returns False, writing nothing, when no prediction is wrong."""
    wrong = _mistakes(predictions)
    shown = wrong[: max(limit, 0)]
    if not shown:
        return False
    columns = min(5, math.ceil(math.sqrt(len(shown))))
    rows = math.ceil(len(shown) / columns)
    figure = _new_figure(columns * 2.4, rows * 2.2 + 0.5)
    figure.suptitle(f"misclassified: {len(shown)} of {len(wrong)}", parse_math=False)
    for index, prediction in enumerate(shown):
        axes = figure.add_subplot(rows, columns, index + 1)
        pixels = _thumbnail(prediction.path)
        if pixels is None:
            axes.text(0.5, 0.5, "unreadable image", ha="center", va="center", transform=axes.transAxes)
        else:
            axes.imshow(pixels)
        title = f"{_short(prediction.true)} → {_short(prediction.predicted)} ({prediction.confidence:.2f})"
        axes.set_title(title, fontsize=8, parse_math=False)
        axes.set_axis_off()
    figure.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 0.6 / (rows * 2.2 + 0.5), hspace=0.25)
    figure.savefig(path, dpi=CONFUSION_DPI)
    return True


def _series(history: Sequence[Mapping[str, float]], key: str) -> list[float] | None:
    values = [float(row.get(key, math.nan)) for row in history]
    return None if all(math.isnan(v) for v in values) else values


def plot_history(history: Sequence[Mapping[str, float]], path: Path) -> None:
    """Training curves, one row per epoch with keys `epoch`, `train_loss`, `val_loss`, `val_accuracy` (and
    `train_accuracy` when present): loss on the left, accuracy on the right. Missing series are left out."""
    if not history:
        raise ValueError("cannot plot a training history without epochs.")
    epochs = [float(row.get("epoch", index + 1)) for index, row in enumerate(history)]
    figure = _new_figure(10.0, 4.0)
    panels = (("loss", ("train_loss", "val_loss")), ("accuracy", ("train_accuracy", "val_accuracy")))
    for index, (name, keys) in enumerate(panels):
        axes = figure.add_subplot(1, 2, index + 1)
        for key in keys:
            values = _series(history, key)
            if values is not None:
                axes.plot(epochs, values, marker="o", markersize=3, label=key.replace("_", " "))
        if name == "accuracy":
            axes.set_ylim(0.0, 1.0)
        axes.set_xlabel("epoch")
        axes.set_ylabel(name)
        axes.set_title(name)
        axes.grid(alpha=0.3)
        if axes.get_lines():
            axes.legend()
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.9, wspace=0.25)
    figure.savefig(path, dpi=CONFUSION_DPI)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _markdown(model: str, data: str, metrics: Metrics, wrong: list[Prediction], figures: list[str]) -> str:
    lines = [
        f"# Evaluation of {model}",
        "",
        f"**Accuracy {metrics.accuracy:.1%}**: {metrics.correct} of {metrics.total} images right, "
        f"{metrics.total - metrics.correct} wrong, {len(metrics.labels)} classes, data `{data}`.",
        "",
        "## Per class",
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {_cell(c.label)} | {c.precision:.3f} | {c.recall:.3f} | {c.f1:.3f} | {c.support} |"
        for c in metrics.per_class
    ]
    lines += [
        f"| **macro average** | {metrics.macro_precision:.3f} | {metrics.macro_recall:.3f} | {metrics.macro_f1:.3f} "
        f"| {metrics.total} |",
        f"| **weighted average** | {metrics.weighted_precision:.3f} | {metrics.weighted_recall:.3f} "
        f"| {metrics.weighted_f1:.3f} | {metrics.total} |",
        "",
        "## Most confused",
        "",
    ]
    pairs = metrics.most_confused(10)
    if pairs:
        lines += ["| true | predicted | count |", "|---|---|---:|"]
        lines += [f"| {_cell(t)} | {_cell(p)} | {n} |" for t, p, n in pairs]
    else:
        lines.append("No class was mistaken for another.")
    if wrong:
        shown = wrong[:_REPORTED_MISTAKES]
        lines += ["", f"## Misclassified ({len(shown)} of {len(wrong)}, most confident first)", ""]
        lines += ["| file | true | predicted | confidence |", "|---|---|---|---:|"]
        lines += [f"| `{_cell(p.path)}` | {_cell(p.true)} | {_cell(p.predicted)} | {p.confidence:.3f} |" for p in shown]
    lines += ["", "## Figures", ""]
    lines += [f"![{name.removesuffix('.png')}]({name})" for name in figures]
    return "\n".join(lines) + "\n"


def write_eval_report(
    out_dir: Path,
    *,
    model: str,
    data: str,
    metrics: Metrics,
    predictions: Sequence[Prediction],
    extra: Mapping[str, Any] | None = None,
) -> EvalFiles:
    """Write `report.json`, `report.md`, `confusion.png` and, when any prediction is wrong, `misclassified.png`
    (a stale one is removed otherwise) into `out_dir`. `extra` adds top-level keys to `report.json`; it may not
    replace the report's own keys."""
    out_dir.mkdir(parents=True, exist_ok=True)
    wrong = _mistakes(predictions)
    report: dict[str, Any] = {
        "model": model,
        "data": data,
        "metrics": metrics.to_dict(),
        "misclassified": [asdict(p) for p in wrong],
    }
    clashes = sorted(set(report) & set(extra or {}))
    if clashes:
        raise ValueError(f"extra may not replace the report's own keys: {', '.join(clashes)}.")
    report.update(extra or {})

    confusion, misclassified = out_dir / "confusion.png", out_dir / "misclassified.png"
    plot_confusion(metrics.matrix, metrics.labels, confusion)
    if not plot_misclassified(wrong, misclassified):
        misclassified.unlink(missing_ok=True)
    files = EvalFiles(
        json=out_dir / "report.json",
        markdown=out_dir / "report.md",
        confusion=confusion,
        misclassified=misclassified if wrong else None,
    )
    figures = [p.name for p in (files.confusion, files.misclassified) if p is not None]
    files.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    files.markdown.write_text(_markdown(model, data, metrics, wrong, figures), encoding="utf-8")
    return files


PARETO_METADATA_KEY = "aiserve:pareto"
"""The PNG text key holding `{"points": [{"label", "latency_ms", "accuracy", "pareto", "pixel"}]}`; `pixel` is where
the point's marker is drawn, `[x, y]` from the top-left corner."""


def plot_pareto(points: Sequence[tuple[str, float, float, bool]], path: Path, *, title: str) -> None:
    """Accuracy (%) against batch-1 latency (ms, log scale) for `(label, latency, accuracy, on_front)` points, the
    front joined by a line, saved as PNG with the points (and their pixels) under `PARETO_METADATA_KEY`."""
    if not points:
        raise ValueError("nothing to plot: no variants were measured.")
    figure = _new_figure(7.5, 5.0)
    axes = figure.add_subplot()
    front = sorted((lat, acc) for _, lat, acc, on in points if on)
    # the best accuracy within each latency budget: a step up at every point on the front
    axes.plot(
        [lat for lat, _ in front],
        [acc * 100 for _, acc in front],
        color="tab:blue",
        lw=1,
        ls="--",
        drawstyle="steps-post",
        zorder=1,
    )
    for n, (label, latency, accuracy, on) in enumerate(sorted(points, key=lambda p: p[1])):
        axes.scatter([latency], [accuracy * 100], s=60, color="tab:blue" if on else "tab:gray", zorder=3 if on else 2)
        below = n % 2 == 1  # neighbours' labels alternate above and below their markers
        axes.annotate(
            label,
            (latency, accuracy * 100),
            xytext=(6, -11 if below else 5),
            textcoords="offset points",
            fontsize=8,
        )
    axes.set_xscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    axes.xaxis.set_major_formatter(plain)
    axes.xaxis.set_minor_formatter(plain)
    axes.tick_params(axis="x", which="minor", labelsize=7)
    fastest, slowest = min(lat for _, lat, _, _ in points), max(lat for _, lat, _, _ in points)
    axes.set_xlim(fastest / 1.4, slowest * 2.2)  # room for the labels on the right
    axes.set_xlabel("latency at batch 1 (ms, log scale)")
    axes.set_ylabel("test accuracy (%)")
    axes.set_title(title, fontsize=10)
    axes.grid(True, which="both", alpha=0.3)
    low, high = min(acc for *_, acc, _ in points) * 100, max(acc for *_, acc, _ in points) * 100
    axes.set_ylim(max(0.0, low - 5), high + max(3.0, (high - low) * 0.12))
    axes.set_yticks([tick for tick in axes.get_yticks() if 0 <= tick <= 100])  # room above 100 % for labels only
    figure.tight_layout()
    figure.canvas.draw()
    height = figure.bbox.height
    placed = []
    for label, latency, accuracy, on in points:
        x, y = axes.transData.transform((latency, accuracy * 100))
        placed.append(
            {
                "label": label,
                "latency_ms": latency,
                "accuracy": accuracy,
                "pareto": on,
                "pixel": [round(float(x), 1), round(float(height - y), 1)],
            }
        )
    figure.savefig(path, dpi=CONFUSION_DPI, metadata={PARETO_METADATA_KEY: json.dumps({"points": placed})})
