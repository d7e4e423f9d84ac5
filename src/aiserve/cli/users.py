"""`aiserve users create|list`: the people and apps that hold keys, straight in the database."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aiserve.cli.options import ConfigOpt, DataDirOpt, settings_from

app = typer.Typer(help="Users (people or apps) who hold API keys.", no_args_is_help=True)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A unique name.")],
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Add a user."""
    from aiserve.usage import repository
    from aiserve.usage.db import run_in_database

    user = run_in_database(settings_from(config, data_dir=data_dir), lambda s: repository.create_user(s, name=name))
    print(f"created user {user.name} (id {user.id})")


@app.command("list")
def list_users(data_dir: DataDirOpt = None, config: ConfigOpt = None) -> None:
    """Every user."""
    from aiserve.usage import repository
    from aiserve.usage.db import run_in_database

    users = run_in_database(settings_from(config, data_dir=data_dir), repository.list_users)
    table = Table("id", "name", "created")
    for user in users:
        table.add_row(str(user.id), user.name, f"{user.created_at:%Y-%m-%d %H:%M}")
    Console().print(table)
