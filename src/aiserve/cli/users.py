"""`aiserve users create|list|limits`: the people and apps that hold keys, in the database or over a server's admin
API (`--url`, `--api-key`)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aiserve.cli.admin import admin_for, describe
from aiserve.cli.options import (
    AdminUrlOpt,
    ApiKeyOpt,
    ConcurrentOpt,
    ConfigOpt,
    DataDirOpt,
    JsonOpt,
    MonthlyRequestsOpt,
    MonthlyTokensOpt,
    RpmOpt,
    TpmOpt,
    limits_from,
)

app = typer.Typer(
    help="Users (people or apps) who hold API keys; their limits are their keys' defaults.", no_args_is_help=True
)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A unique name.")],
    rpm: RpmOpt = None,
    tpm: TpmOpt = None,
    concurrent: ConcurrentOpt = None,
    monthly_requests: MonthlyRequestsOpt = None,
    monthly_tokens: MonthlyTokensOpt = None,
    url: AdminUrlOpt = None,
    api_key: ApiKeyOpt = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Add a user, with default limits for the user's keys (unset: the server's)."""
    wanted = limits_from(rpm=rpm, tpm=tpm, concurrent=concurrent, monthly_requests=monthly_requests,
                         monthly_tokens=monthly_tokens)  # fmt: skip
    user = admin_for(url=url, api_key=api_key, data_dir=data_dir, config=config).create_user(name, wanted)
    print(f"created user {user.name} (id {user.id})")


@app.command("list")
def list_users(
    as_json: JsonOpt = False,
    url: AdminUrlOpt = None,
    api_key: ApiKeyOpt = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Every user, with their limits."""
    from aiserve.protocol.keys import UserList

    users = admin_for(url=url, api_key=api_key, data_dir=data_dir, config=config).list_users()
    if as_json:
        print(UserList(data=users).model_dump_json(indent=2))
        return
    table = Table("id", "name", "limits", "created")
    for user in users:
        table.add_row(str(user.id), user.name, describe(user.limits), f"{user.created_at:%Y-%m-%d %H:%M}")
    Console().print(table)


@app.command("limits")
def limits(
    name: Annotated[str, typer.Argument(help="The user.")],
    rpm: RpmOpt = None,
    tpm: TpmOpt = None,
    concurrent: ConcurrentOpt = None,
    monthly_requests: MonthlyRequestsOpt = None,
    monthly_tokens: MonthlyTokensOpt = None,
    url: AdminUrlOpt = None,
    api_key: ApiKeyOpt = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Change a user's default limits: the ones given are set (0 clears one); the rest stay."""
    wanted = limits_from(rpm=rpm, tpm=tpm, concurrent=concurrent, monthly_requests=monthly_requests,
                         monthly_tokens=monthly_tokens)  # fmt: skip
    user = admin_for(url=url, api_key=api_key, data_dir=data_dir, config=config).set_user_limits(name, wanted)
    print(f"user {user.name} limits: {describe(user.limits)}")
