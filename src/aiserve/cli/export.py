"""`aiserve export --bundle DIR`: the prepared ONNX models as a folder that a torch-free install serves offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aiserve.cli.options import ConfigOpt, DataDirOpt, settings_from


def export(
    bundle: Annotated[Path, typer.Option(help="A new folder for the bundle.")],
    models: Annotated[
        list[str] | None, typer.Option("--models", "-m", help="Models to include (default: the ONNX ones).")
    ] = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Write an edge bundle: models, tokenizer, labels, checksums and the settings that serve it. Serve it with
    `aiserve serve --bundle DIR` (`pip install "aiserve[edge]"` needs no PyTorch)."""
    from aiserve.registry.bundle import EDGE_MODELS, export_bundle
    from aiserve.registry.registry import find_spec

    settings = settings_from(config, data_dir=data_dir)
    specs = [find_spec(name) for name in (models or EDGE_MODELS)]
    names = export_bundle(settings.models_dir, bundle, specs)
    print(f"bundle written to {bundle}: {', '.join(names)}; serve it with: aiserve serve --bundle {bundle}")
