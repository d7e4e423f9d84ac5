"""`aiserve db migrate`: bring the database's schema up to date (the server also does it on start)."""

from __future__ import annotations

import typer

from aiserve.cli.options import ConfigOpt, DataDirOpt, settings_from

app = typer.Typer(help="The database of users, keys and usage.", no_args_is_help=True)


@app.command("migrate")
def migrate(data_dir: DataDirOpt = None, config: ConfigOpt = None) -> None:
    """Apply every pending migration."""
    from aiserve.usage.db import run_in_database

    settings = settings_from(config, data_dir=data_dir)

    async def nothing(_: object) -> None:
        return None

    run_in_database(settings, nothing)
    print(f"database up to date: {_safe(settings.database_url())}")


def _safe(url: str) -> str:
    """The URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
