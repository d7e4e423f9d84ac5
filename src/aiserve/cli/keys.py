"""`aiserve keys create|list|revoke|limits`: API keys, in the database or over a server's admin API (`--url`,
`--api-key`). A key is shown once, at creation."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Column, Table

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
    help="API keys: create (shown once), list, revoke, set limits. In the database, or with --url/--api-key over "
    "a running server's admin API.",
    no_args_is_help=True,
)


@app.command("create")
def create(
    user: Annotated[str, typer.Option("--user", "-u", help="The user who holds the key.")],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "",
    scopes: Annotated[
        str, typer.Option(help="Comma-separated: admin, inference, usage:read.")
    ] = "inference,usage:read",
    expires_days: Annotated[int | None, typer.Option(help="Days until it stops working.", min=1)] = None,
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
    """Make a key and print it once: store it now, it cannot be shown again. Limits left out follow the user's."""
    from aiserve.apikeys import parse_scopes
    from aiserve.protocol.keys import KeyCreate

    limits = limits_from(rpm=rpm, tpm=tpm, concurrent=concurrent, monthly_requests=monthly_requests,
                         monthly_tokens=monthly_tokens)  # fmt: skip
    request = KeyCreate(user=user, name=name, scopes=list(parse_scopes(scopes)), expires_in_days=expires_days,
                        limits=limits)  # fmt: skip
    made = admin_for(url=url, api_key=api_key, data_dir=data_dir, config=config).create_key(request)
    print(made.key)
    print(f"key {made.id} ({made.prefix}…) for {user}, scopes {', '.join(made.scopes)}: store it now, it is not "
          "shown again", file=sys.stderr)  # fmt: skip


@app.command("list")
def list_keys(
    user: Annotated[str | None, typer.Option("--user", "-u", help="Only this user's keys.")] = None,
    as_json: JsonOpt = False,
    url: AdminUrlOpt = None,
    api_key: ApiKeyOpt = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Every key: id, prefix, holder, scopes, limits, state, last use (never the key itself)."""
    from datetime import UTC, datetime

    from aiserve.protocol.keys import KeyList

    rows = admin_for(url=url, api_key=api_key, data_dir=data_dir, config=config).list_keys(user)
    if as_json:
        print(KeyList(data=rows).model_dump_json(indent=2))
        return
    now = datetime.now(UTC)
    columns = ("id", Column("prefix", no_wrap=True, min_width=8), "user", "name", Column("scopes", overflow="fold"),
               "limits", "expires", "last used", Column("state", no_wrap=True))  # fmt: skip
    table = Table(*columns)
    for key in rows:
        expired = key.expires_at is not None and key.expires_at.replace(tzinfo=key.expires_at.tzinfo or UTC) <= now
        state = "revoked" if key.revoked_at else "expired" if expired else "active"
        table.add_row(str(key.id), key.prefix, key.user, key.name, ", ".join(key.scopes), describe(key.limits),
                      f"{key.expires_at:%Y-%m-%d}" if key.expires_at else "never",
                      f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never", state)  # fmt: skip
    Console().print(table)


@app.command("revoke")
def revoke(
    key: Annotated[str, typer.Argument(help="The key's id or prefix.")],
    url: AdminUrlOpt = None,
    api_key: ApiKeyOpt = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Stop a key from working (every server refuses it within `auth.cache_s`)."""
    row = admin_for(url=url, api_key=api_key, data_dir=data_dir, config=config).revoke_key(key)
    print(f"revoked key {row.id} ({row.prefix}…)")


@app.command("limits")
def limits(
    key: Annotated[str, typer.Argument(help="The key's id or prefix.")],
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
    """Change a key's own limits: the ones given are set (0 clears one, so the user's applies); the rest stay."""
    wanted = limits_from(rpm=rpm, tpm=tpm, concurrent=concurrent, monthly_requests=monthly_requests,
                         monthly_tokens=monthly_tokens)  # fmt: skip
    row = admin_for(url=url, api_key=api_key, data_dir=data_dir, config=config).set_key_limits(key, wanted)
    print(f"key {row.id} ({row.prefix}…) limits: {describe(row.limits)}")
