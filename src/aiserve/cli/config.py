"""`aiserve config show`: the effective settings, secrets masked."""

from __future__ import annotations

import orjson
import typer

from aiserve.cli.options import ConfigOpt, settings_from

app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)


@app.command("show")
def show(config: ConfigOpt = None) -> None:
    """Print the settings in effect (defaults < config file < .env < environment), secrets masked."""
    settings = settings_from(config)
    print(orjson.dumps(settings.model_dump(mode="json"), option=orjson.OPT_INDENT_2).decode())
