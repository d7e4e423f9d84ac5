"""`aiserve eval`: how good a classifier is, on its own test split or any labelled folder."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from aiserve.cli.options import ApiKeyOpt, ConfigOpt, DataDirOpt, settings_from

if TYPE_CHECKING:
    from aiserve.settings import Settings
    from aiserve.training.dataset import Sample


def evaluate(
    model: Annotated[str, typer.Argument(help="A classifier: id@version, alias or id.", show_default=False)],
    data: Annotated[
        Path | None,
        typer.Option(
            help="Labelled images (class subfolders or a CSV); default: the model's own test split.", show_default=False
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Report folder (default: eval/ in the model's folder).")] = None,
    url: Annotated[
        str | None,
        typer.Option(help="Ask this running server instead of running the model here.", show_default=False),
    ] = None,
    api_key: ApiKeyOpt = None,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare",
            help="Also measure every variant made from the model (int8, pruned, distilled): accuracy, agreement, "
            "size and latency side by side, with a Pareto plot.",
        ),
    ] = False,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Accuracy, per-class precision, recall and F1, a confusion matrix and the misclassified images, written as
    report.json, report.md and PNGs. The model runs here, or on a running server with --url. With --compare: the
    model and its compressed variants side by side (compare.md, compare.json, pareto.png)."""
    from rich.progress import Progress

    from aiserve.cli.train import needs_training_extra

    with needs_training_extra():
        from aiserve.training.workflow import evaluate_model

    settings = settings_from(config, data_dir=data_dir)
    console = Console()
    if compare:
        if url is not None:
            raise ValueError("--compare measures the variants' latency here, side by side; leave out --url.")
        _compare(console, settings, model, data, out)
        return
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("classifying", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        predict = None if url is None else _remote(model, url, api_key, config, progress)
        key, evaluation, files = evaluate_model(settings, model, data=data, out=out, progress=progress, predict=predict)
    metrics = evaluation.metrics
    table = Table(title=f"{key}: accuracy {metrics.accuracy:.2%} on {metrics.total} images")
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


def _remote(
    model: str, url: str, api_key: str | None, config: Path | None, progress: Callable[[int, int], None]
) -> Callable[[Sequence[Sample]], list[tuple[str, float]]]:
    """The server's top answer for each image, one request at a time (the server batches across clients)."""
    from aiserve.cli.remote import client_for

    def predict(samples: Sequence[Sample]) -> list[tuple[str, float]]:
        answers = []
        with client_for(url, api_key, config, timeout=120) as client:
            for sample in samples:
                top = client.images.classify(sample.path, model=model).predictions[0]
                answers.append((top.label, top.confidence))
                progress(len(answers), len(samples))
        return answers

    return predict


def _compare(console: Console, settings: Settings, model: str, data: Path | None, out: Path | None) -> None:
    from rich.progress import Progress

    from aiserve.training.compare import compare

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("measuring the variants", total=None)
        report = compare(
            settings,
            model,
            data=data,
            out=out,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    original = report.entries[0]
    table = Table(title=f"{report.model} and its variants, on {report.images} images")
    for column in ("model", "what", "accuracy", "agreement", "size", "batch 1", "batch 16", "Pareto"):
        table.add_column(column, justify="left" if column in ("model", "what") else "right")
    for e in report.entries:
        table.add_row(
            e.model,
            e.kind,
            f"{e.accuracy:.2%}",
            f"{e.agreement:.2%}",
            f"{e.size_bytes / 1e6:.2f} MB",
            f"{e.latency_ms_batch1:.2f} ms ({original.latency_ms_batch1 / e.latency_ms_batch1:.1f}×)",
            f"{e.latency_ms_batch16:.2f} ms ({original.latency_ms_batch16 / e.latency_ms_batch16:.1f}×)",
            "✓" if e.pareto else "",
        )
    console.print(table)
    for key, why in report.skipped.items():
        console.print(f"left out {key}: {why}")
    for kind, command in report.missing.items():
        console.print(f"no {kind} variant yet: {command}")
    console.print(f"report: {report.folder / 'compare.md'} (also compare.json, pareto.png)")
