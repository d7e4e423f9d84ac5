"""`aiserve models list|prepare`: the built-in models and their local artefacts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aiserve.cli.options import ApiKeyOpt, ConfigOpt, DataDirOpt, settings_from

app = typer.Typer(help="List and prepare models.", no_args_is_help=True)


@app.command("list")
def list_models(data_dir: DataDirOpt = None, config: ConfigOpt = None) -> None:
    """The models aiserve can serve, and whether they are prepared here."""
    from aiserve.registry.catalog import catalog
    from aiserve.registry.prepare import is_prepared

    settings = settings_from(config, data_dir=data_dir)
    table = Table()
    table.add_column("model", no_wrap=True)
    for name in ("task", "enabled", "prepared"):
        table.add_column(name, no_wrap=True)
    table.add_column("aliases", overflow="fold")
    wanted = {name.lower() for name in settings.models.enabled}
    for spec in catalog(settings):
        enabled = bool(wanted & {n.lower() for n in (*spec.names(), spec.id)})
        prepared = is_prepared(settings.models_dir, spec)
        table.add_row(
            spec.key,
            spec.task,
            "yes" if enabled else "no",
            "yes" if prepared else "no",
            ", ".join(spec.aliases),
        )
    Console().print(table)


@app.command("prepare")
def prepare(
    names: Annotated[list[str] | None, typer.Argument(help="Models to prepare (default: the enabled ones).")] = None,
    force: Annotated[bool, typer.Option(help="Prepare again even if already prepared.")] = False,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Gather the models' files into the data directory (once; later runs reuse them)."""
    from aiserve.cli.progress import prepare_models

    settings = settings_from(config, data_dir=data_dir)
    for folder in prepare_models(settings, names or settings.models.enabled, force=force):
        print(f"ready: {folder}")


def _admin(action: str, name: str, url: str | None, api_key: str | None, config: Path | None) -> None:
    from aiserve.cli.remote import client_for

    with client_for(url, api_key, config, timeout=600) as client:
        card = client.models.load(name) if action == "load" else client.models.unload(name)
    print(f"{action}ed: {card.id} (version {card.version}, {card.status})")


UrlOpt = Annotated[str | None, typer.Option(help="Server URL (default: from the settings).", show_default=False)]


@app.command("load")
def load(
    name: Annotated[str, typer.Argument(help="Model: id@version, alias or id.")],
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Load a catalogue model into a running server, beside the models it serves. Needs an admin key."""
    _admin("load", name, url, api_key, config)


@app.command("unload")
def unload(
    name: Annotated[str, typer.Argument(help="Model: id@version, alias or id.")],
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Unload a model from a running server; requests already queued on it finish first. Needs an admin key."""
    _admin("unload", name, url, api_key, config)
