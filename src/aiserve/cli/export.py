"""`aiserve export`: int8 quantisation (`MODEL --quantize`) or pruning (`MODEL --prune RATIO`) of a model, or an edge
bundle (`--bundle DIR`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aiserve.cli.options import ConfigOpt, DataDirOpt, settings_from

if TYPE_CHECKING:
    from rich.console import Console

    from aiserve.settings import Settings
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
    fp16: Annotated[
        bool,
        typer.Option(
            "--fp16",
            help="Make an fp16 version for GPUs and compare it with the original (on the GPU when there is one).",
        ),
    ] = False,
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
    version; `--fp16` for an fp16 one, for GPUs. `aiserve export --bundle DIR`: models, checksums and settings that a
    torch-free install serves offline with `aiserve serve --bundle DIR`."""
    settings = settings_from(config, data_dir=data_dir)
    if bundle is not None:
        from aiserve.registry.bundle import EDGE_MODELS, export_bundle
        from aiserve.registry.catalog import catalog
        from aiserve.registry.registry import find_spec

        specs = [find_spec(name, catalog(settings)) for name in (models or EDGE_MODELS)]
        names = export_bundle(settings.models_dir, bundle, specs)
        print(f"bundle written to {bundle}: {', '.join(names)}; serve it with: aiserve serve --bundle {bundle}")
        return
    if model is None or not (quantize or prune or fp16):
        raise ValueError(
            "say what to export: aiserve export MODEL --quantize, --prune 0.5 or --fp16, or aiserve export --bundle DIR"
        )
    _check_together(quantize, prune, fp16, structured, fine_tune_epochs, data)
    from rich.console import Console

    from aiserve.cli.train import needs_training_extra

    with needs_training_extra():
        from aiserve.training.half import half_model
        from aiserve.training.quantize import quantize_model

    console = Console()
    if prune is not None:
        later = quantize or fp16
        model = _prune(console, settings, model, prune, structured, fine_tune_epochs, max_drop, force, version, later)
    if fp16:
        with console.status(f"converting {model} to fp16 and measuring it against the original…"):
            done = half_model(settings, model, max_drop=max_drop, force=force, version=version)
        _show(console, done, max_drop)
    if quantize:
        with console.status(f"quantising {model} and measuring fp32 against int8…"):
            done = quantize_model(settings, model, data=data, version=version, max_drop=max_drop, force=force)
        _show(console, done, max_drop)


def _check_together(
    quantize: bool, prune: float | None, fp16: bool, structured: bool, epochs: int, data: Path | None
) -> None:
    """Refuse flags that do not go together, in one line."""
    if prune is None and (structured or epochs != 10):
        raise ValueError("--structured and --fine-tune-epochs go with --prune RATIO.")
    if prune is not None and data is not None:
        raise ValueError("--prune fine-tunes and tests on the model's own splits; --data goes with --quantize alone.")
    if fp16 and quantize:
        raise ValueError("--fp16 and --quantize each make a version of their own; ask for one at a time.")
    if fp16 and data is not None:
        raise ValueError("--fp16 is checked on the model's own test split; --data goes with --quantize alone.")


def _prune(
    console: Console,
    settings: Settings,
    model: str,
    ratio: float,
    structured: bool,
    epochs: int,
    max_drop: float,
    force: bool,
    version: str | None,
    later: bool,
) -> str:
    """Prune, with the fine-tune's epochs on the status line; the pruned model's name (`version` is for the last
    step, so it is left to a later --quantize or --fp16)."""
    from aiserve.training.prune import prune_model

    what = "channels" if structured else "weights"
    with console.status(f"pruning {ratio:.0%} of {model}'s {what}, fine-tuning and comparing…") as status:

        def epoch(record: EpochRecord) -> None:
            status.update(f"fine-tuning: epoch {record.epoch}/{epochs}, val {record.val_accuracy:.1%}")

        done = prune_model(
            settings,
            model,
            ratio,
            structured=structured,
            epochs=epochs,
            max_drop=max_drop,
            force=force,
            version=None if later else version,
            on_epoch=epoch,
        )
    return _show(console, done, max_drop)


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
