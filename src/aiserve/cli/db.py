"""`aiserve db migrate|backup|restore`: the schema brought up to date (the server also does it on start), and
SQLite backups taken live and restored."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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


@app.command("backup")
def backup(
    target: Annotated[Path, typer.Argument(help="A new file for the copy.")],
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Copy the SQLite database to a file, consistently, even while the server runs."""
    from aiserve.usage import backup as backups

    settings = settings_from(config, data_dir=data_dir)
    events = backups.backup(backups.sqlite_path(settings.database_url()), target)
    print(f"backed up to {target} ({events} usage events)")


@app.command("restore")
def restore(
    source: Annotated[Path, typer.Argument(help="A backup made by `aiserve db backup`.")],
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Replace the SQLite database with a backup (checked first). Stop the server before, start it after."""
    from aiserve.usage import backup as backups

    settings = settings_from(config, data_dir=data_dir)
    database = backups.sqlite_path(settings.database_url())
    events = backups.restore(source, database)
    print(f"restored {database} from {source} ({events} usage events)")


def _safe(url: str) -> str:
    """The URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
