"""`aiserve models list|prepare`: the built-in models and their local artefacts; `load|unload` and
`alias|unalias|aliases` on a running server, through the SDK."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aiserve.cli.options import ApiKeyOpt, ConfigOpt, DataDirOpt, ServerUrlOpt, settings_from

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


@app.command("load")
def load(
    name: Annotated[str, typer.Argument(help="Model: id@version, alias or id.")],
    url: ServerUrlOpt = None,
    api_key: ApiKeyOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Load a catalogue model into a running server, beside the models it serves. Needs an admin key."""
    _admin("load", name, url, api_key, config)


@app.command("unload")
def unload(
    name: Annotated[str, typer.Argument(help="Model: id@version, alias or id.")],
    url: ServerUrlOpt = None,
    api_key: ApiKeyOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Unload a model from a running server; requests already queued on it finish first. Needs an admin key."""
    _admin("unload", name, url, api_key, config)


@app.command("alias")
def set_alias(
    alias: Annotated[str, typer.Argument(help="The alias clients pass as `model`.")],
    model: Annotated[str, typer.Argument(help="Model it points at: id@version, alias or id.")],
    url: ServerUrlOpt = None,
    api_key: ApiKeyOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Point a movable alias at a model on a running server (loaded first if needed). Needs an admin key.

    Clients naming the alias get that model from now on, and after a restart.
    """
    from aiserve.cli.remote import client_for

    with client_for(url, api_key, config, timeout=600) as client:
        moved = client.models.alias(alias, model)
    status = moved.card.status if moved.card else "not loaded"
    print(f"aliased: {moved.alias} -> {moved.model} ({status})")


@app.command("unalias")
def unalias(
    alias: Annotated[str, typer.Argument(help="The alias to drop.")],
    url: ServerUrlOpt = None,
    api_key: ApiKeyOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Drop a movable alias on a running server; the model keeps its own names. Needs an admin key."""
    from aiserve.cli.remote import client_for

    with client_for(url, api_key, config) as client:
        dropped = client.models.unalias(alias)
    print(f"unaliased: {dropped.alias} (pointed at {dropped.model})")


@app.command("aliases")
def list_aliases(url: ServerUrlOpt = None, api_key: ApiKeyOpt = None, config: ConfigOpt = None) -> None:
    """The movable aliases of a running server and the models they point at. Needs an admin key."""
    from aiserve.cli.remote import client_for

    with client_for(url, api_key, config) as client:
        found = client.models.aliases().data
    if not found:
        print("no aliases: add one with `aiserve models alias ALIAS MODEL`")
        return
    table = Table()
    for column in ("alias", "model", "status"):
        table.add_column(column, no_wrap=True)
    for entry in found:
        table.add_row(entry.alias, entry.model, entry.card.status if entry.card else "not loaded")
    Console().print(table)
