"""`aiserve keys create|list|revoke`: API keys, straight in the database. A key is shown once, at creation."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from aiserve.cli.options import ConfigOpt, DataDirOpt, settings_from

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from aiserve.usage.tables import ApiKey

app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)


@app.command("create")
def create(
    user: Annotated[str, typer.Option("--user", "-u", help="The user who holds the key.")],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "",
    scopes: Annotated[
        str, typer.Option(help="Comma-separated: admin, inference, usage:read.")
    ] = "inference,usage:read",
    expires_days: Annotated[int | None, typer.Option(help="Days until it stops working.", min=1)] = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Make a key and print it once: store it now, it cannot be shown again."""
    from aiserve.auth.keys import parse_scopes
    from aiserve.usage import repository
    from aiserve.usage.db import run_in_database
    from aiserve.usage.tables import utcnow

    wanted = parse_scopes(scopes)
    expires = utcnow() + timedelta(days=expires_days) if expires_days else None

    async def work(session: AsyncSession) -> tuple[ApiKey, str]:
        holder = await repository.find_user(session, name=user)
        return await repository.create_key(session, user=holder, name=name, scopes=wanted, expires_at=expires)

    row, plaintext = run_in_database(settings_from(config, data_dir=data_dir), work)
    print(plaintext)
    print(f"key {row.id} ({row.prefix}…) for {user}, scopes {', '.join(row.scopes)}: store it now, it is not shown "
          "again", file=sys.stderr)  # fmt: skip


@app.command("list")
def list_keys(
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user's keys.")] = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Every key: id, prefix, holder, scopes, state (never the key itself)."""
    from aiserve.usage import repository
    from aiserve.usage.db import run_in_database
    from aiserve.usage.tables import utcnow

    async def work(session: AsyncSession) -> list[ApiKey]:
        holder = await repository.find_user(session, name=user) if user else None
        return list(await repository.list_keys(session, user=holder))

    now = utcnow()
    table = Table("id", "prefix", "user", "name", "scopes", "created", "expires", "state")
    for key in run_in_database(settings_from(config, data_dir=data_dir), work):
        state = "revoked" if key.revoked_at else "active" if key.active(now) else "expired"
        expires = f"{key.expires_at:%Y-%m-%d}" if key.expires_at else "never"
        table.add_row(str(key.id), key.prefix, key.user.name, key.name, ", ".join(key.scopes),
                      f"{key.created_at:%Y-%m-%d}", expires, state)  # fmt: skip
    Console().print(table)


@app.command("revoke")
def revoke(
    key: Annotated[str, typer.Argument(help="The key's id or prefix.")],
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Stop a key from working."""
    from aiserve.usage import repository
    from aiserve.usage.db import run_in_database

    row = run_in_database(settings_from(config, data_dir=data_dir), lambda s: repository.revoke_key(s, key=key))
    print(f"revoked key {row.id} ({row.prefix}…)")
