"""`aiserve eval`: how good a classifier is, on its own test split or any labelled folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aiserve.cli.options import ConfigOpt, DataDirOpt, settings_from


def evaluate(
    model: Annotated[str, typer.Argument(help="A classifier: id@version, alias or id.", show_default=False)],
    data: Annotated[
        Path | None,
        typer.Option(
            help="Labelled images (class subfolders or a CSV); default: the model's own test split.", show_default=False
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Report folder (default: eval/ in the model's folder).")] = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Accuracy, per-class precision, recall and F1, a confusion matrix and the misclassified images, written as
    report.json, report.md and PNGs."""
    from rich.progress import Progress

    from aiserve.cli.train import needs_training_extra

    with needs_training_extra():
        from aiserve.training.workflow import evaluate_model

    settings = settings_from(config, data_dir=data_dir)
    console = Console()
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("classifying", total=None)
        spec, evaluation, files = evaluate_model(
            settings,
            model,
            data=data,
            out=out,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    metrics = evaluation.metrics
    table = Table(title=f"{spec.key}: accuracy {metrics.accuracy:.2%} on {metrics.total} images")
    for column in ("class", "precision", "recall", "F1", "images"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for row in metrics.per_class:
        table.add_row(row.label, f"{row.precision:.3f}", f"{row.recall:.3f}", f"{row.f1:.3f}", str(row.support))
    table.add_row(
        "[bold]macro",
        f"{metrics.macro_precision:.3f}",
        f"{metrics.macro_recall:.3f}",
        f"{metrics.macro_f1:.3f}",
        str(metrics.total),
    )
    console.print(table)
    console.print(
        f"{len(evaluation.wrong)} misclassified; report: {files.markdown} (also {files.json.name}, "
        f"{files.confusion.name}{', ' + files.misclassified.name if files.misclassified else ''})"
    )
