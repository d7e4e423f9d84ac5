"""`aiserve models list|prepare`: the built-in models and their local artefacts."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aiserve.cli.options import ConfigOpt, DataDirOpt, settings_from

app = typer.Typer(help="List and prepare models.", no_args_is_help=True)


@app.command("list")
def list_models(data_dir: DataDirOpt = None, config: ConfigOpt = None) -> None:
    """The models aiserve can serve, and whether they are prepared here."""
    from aiserve.registry.catalog import BUILTIN
    from aiserve.registry.prepare import is_prepared

    settings = settings_from(config, data_dir=data_dir)
    table = Table()
    table.add_column("id", no_wrap=True)
    for name in ("task", "runtime", "enabled", "prepared"):
        table.add_column(name)
    table.add_column("aliases", overflow="fold")
    for spec in BUILTIN:
        enabled = spec.id in settings.models.enabled or any(a in settings.models.enabled for a in spec.aliases)
        prepared = is_prepared(settings.models_dir, spec)
        table.add_row(
            spec.id,
            spec.task,
            spec.backend,
            "yes" if enabled else "no",
            "yes" if prepared else "no",
            ", ".join(spec.aliases),
        )
    Console().print(table)


@app.command("prepare")
def prepare(
    names: Annotated[list[str] | None, typer.Argument(help="Models to prepare [default: the enabled ones].")] = None,
    force: Annotated[bool, typer.Option(help="Prepare again even if already prepared.")] = False,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Gather the models' files into the data directory (once; later runs reuse them)."""
    from aiserve.cli.progress import prepare_models

    settings = settings_from(config, data_dir=data_dir)
    for folder in prepare_models(settings, names or settings.models.enabled, force=force):
        print(f"ready: {folder}")
