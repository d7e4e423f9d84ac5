"""`aiserve export`: int8 quantisation of a model (`MODEL --quantize`), or an edge bundle (`--bundle DIR`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aiserve.cli.options import ConfigOpt, DataDirOpt, settings_from


def export(
    model: Annotated[
        str | None, typer.Argument(help="The model to quantise (with --quantize).", show_default=False)
    ] = None,
    quantize: Annotated[
        bool, typer.Option("--quantize", help="Make an int8 version and compare it with fp32.")
    ] = False,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Labelled images to calibrate and test on (default: the model's own splits).", show_default=False
        ),
    ] = None,
    max_drop: Annotated[float, typer.Option(help="Largest accuracy drop, in points, that is still registered.")] = 1.0,
    force: Annotated[bool, typer.Option(help="Register the int8 model whatever its accuracy.")] = False,
    version: Annotated[str | None, typer.Option(help="The int8 version (default: <version>-int8).")] = None,
    bundle: Annotated[Path | None, typer.Option(help="Write an edge bundle to this new folder.")] = None,
    models: Annotated[
        list[str] | None, typer.Option("--models", "-m", help="Models in the bundle (default: the ONNX ones).")
    ] = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """`aiserve export MODEL --quantize`: static int8 for a classifier, calibrated on its training images, with a
    fp32-vs-int8 report (size, latency, accuracy, agreement); registered as MODEL@VERSION-int8 unless accuracy drops
    more than --max-drop. `aiserve export --bundle DIR`: models, checksums and settings that a torch-free install
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
    if model is None or not quantize:
        raise ValueError("say what to export: aiserve export MODEL --quantize, or aiserve export --bundle DIR")
    from rich.console import Console
    from rich.markdown import Markdown

    from aiserve.cli.train import needs_training_extra

    with needs_training_extra():
        from aiserve.training.quantize import quantize_model

    console = Console()
    with console.status(f"quantising {model} and measuring fp32 against int8…"):
        done = quantize_model(settings, model, data=data, version=version, max_drop=max_drop, force=force)
    console.print(Markdown(done.report.read_text()))
    if done.spec is None:
        drop = done.comparison.drop
        raise ValueError(
            f"int8 accuracy is {drop} points lower (allowed: {max_drop}), so {done.comparison.target} was not "
            f"registered; report: {done.report}. Use --force to register it anyway."
        )
    console.print(f"saved [bold]{done.spec.key}[/]; serve it with: aiserve models load {done.spec.key}")
