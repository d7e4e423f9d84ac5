"""`aiserve export`: int8 quantisation (`MODEL --quantize`) or pruning (`MODEL --prune RATIO`) of a model, or an edge
bundle (`--bundle DIR`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aiserve.cli.options import ConfigOpt, DataDirOpt, settings_from

if TYPE_CHECKING:
    from rich.console import Console

    from aiserve.training.compress import Compressed
    from aiserve.training.trainer import EpochRecord


def export(
    model: Annotated[str | None, typer.Argument(help="The model to quantise or prune.", show_default=False)] = None,
    quantize: Annotated[
        bool, typer.Option("--quantize", help="Make an int8 version and compare it with fp32.")
    ] = False,
    prune: Annotated[
        float | None,
        typer.Option(
            min=0.01,
            max=0.99,
            help="Prune this share of a trained classifier's weights (or channels, with --structured), fine-tune, "
            "and compare. With --quantize, the pruned model is then quantised.",
            show_default=False,
        ),
    ] = None,
    structured: Annotated[
        bool, typer.Option(help="--prune whole channels, so the network gets smaller and faster.")
    ] = False,
    fine_tune_epochs: Annotated[
        int, typer.Option(min=1, max=1000, help="--prune: epochs of fine-tuning on the training images.")
    ] = 10,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Labelled images to calibrate and test on (default: the model's own splits).", show_default=False
        ),
    ] = None,
    max_drop: Annotated[float, typer.Option(help="Largest accuracy drop, in points, that is still registered.")] = 1.0,
    force: Annotated[bool, typer.Option(help="Register the new model whatever its accuracy.")] = False,
    version: Annotated[
        str | None,
        typer.Option(help="The new version (default: <version>-int8, -pruned<NN> or -sparse<NN>).", show_default=False),
    ] = None,
    bundle: Annotated[Path | None, typer.Option(help="Write an edge bundle to this new folder.")] = None,
    models: Annotated[
        list[str] | None, typer.Option("--models", "-m", help="Models in the bundle (default: the ONNX ones).")
    ] = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """`aiserve export MODEL --quantize`: static int8 for a classifier, calibrated on its training images, with a
    fp32-vs-int8 report (size, latency, accuracy, agreement); registered as MODEL@VERSION-int8 unless accuracy drops
    more than --max-drop. `aiserve export MODEL --prune 0.5 [--structured]`: the same for a pruned and fine-tuned
    version. `aiserve export --bundle DIR`: models, checksums and settings that a torch-free install
    serves offline with `aiserve serve --bundle DIR`."""
    settings = settings_from(config, data_dir=data_dir)
    if bundle is not None:
        from aiserve.registry.bundle import EDGE_MODELS, export_bundle
        from aiserve.registry.catalog import catalog
        from aiserve.registry.registry import find_spec

        specs = [find_spec(name, catalog(settings)) for name in (models or EDGE_MODELS)]
        names = export_bundle(settings.models_dir, bundle, specs)
        print(f"bundle written to {bundle}: {', '.join(names)}; serve it with: aiserve serve --bundle {bundle}")
        return
    if model is None or not (quantize or prune):
        raise ValueError(
            "say what to export: aiserve export MODEL --quantize, aiserve export MODEL --prune 0.5, or "
            "aiserve export --bundle DIR"
        )
    if prune is None and (structured or fine_tune_epochs != 10):
        raise ValueError("--structured and --fine-tune-epochs go with --prune RATIO.")
    if prune is not None and data is not None:
        raise ValueError("--prune fine-tunes and tests on the model's own splits; --data goes with --quantize alone.")
    from rich.console import Console

    from aiserve.cli.train import needs_training_extra

    with needs_training_extra():
        from aiserve.training.prune import prune_model
        from aiserve.training.quantize import quantize_model

    console = Console()
    if prune is not None:
        what = "channels" if structured else "weights"
        with console.status(f"pruning {prune:.0%} of {model}'s {what}, fine-tuning and comparing…") as status:

            def epoch(record: EpochRecord) -> None:
                status.update(f"fine-tuning: epoch {record.epoch}/{fine_tune_epochs}, val {record.val_accuracy:.1%}")

            done = prune_model(
                settings,
                model,
                prune,
                structured=structured,
                epochs=fine_tune_epochs,
                max_drop=max_drop,
                force=force,
                version=None if quantize else version,
                on_epoch=epoch,
            )
        model = _show(console, done, max_drop)
    if quantize:
        with console.status(f"quantising {model} and measuring fp32 against int8…"):
            done = quantize_model(settings, model, data=data, version=version, max_drop=max_drop, force=force)
        _show(console, done, max_drop)


def _show(console: Console, done: Compressed, max_drop: float) -> str:
    """Print the report; the new model's name, or a one-line error when it was not registered."""
    from rich.markdown import Markdown

    console.print(Markdown(done.report.read_text()))
    if done.spec is None:
        drop, kind = done.comparison.drop, done.comparison.kind
        raise ValueError(
            f"{kind} accuracy is {drop} points lower (allowed: {max_drop}), so {done.comparison.target} was not "
            f"registered; report: {done.report}. Use --force to register it anyway."
        )
    console.print(f"saved [bold]{done.spec.key}[/]; serve it with: aiserve models load {done.spec.key}")
    return done.spec.key
