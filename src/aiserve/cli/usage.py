"""`aiserve usage`: your usage on a running server (an admin key may ask for any user's or key's)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aiserve.cli.options import ApiKeyOpt, ConfigOpt, JsonOpt, ServerUrlOpt


def usage(
    start: Annotated[datetime | None, typer.Option(help="From this moment (ISO 8601).")] = None,
    end: Annotated[datetime | None, typer.Option(help="Until this moment (ISO 8601).")] = None,
    user: Annotated[str | None, typer.Option(help="Another user's usage (admin key).")] = None,
    key: Annotated[str | None, typer.Option(help="One key's usage, by id or prefix (admin key).")] = None,
    url: ServerUrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Requests, success rate, response time, tokens and images, by model and by day."""
    from aiserve.cli.remote import client_for

    with client_for(url, api_key, config) as client:
        found = client.usage.get(start=start, end=end, user=user, key=key)
    report = found.model_dump(mode="json")
    if as_json:
        print(json.dumps(report, indent=2))
        return
    who = f"{report['user']}" + (f", key {report['key']}…" if report["key"] else "")
    totals = Table("requests", "successful", "success rate", "avg ms", "input tokens", "output tokens", "images",
                   title=f"usage of {who}")  # fmt: skip
    totals.add_row(str(report["total_requests"]), str(report["successful_requests"]), f"{report['success_rate']:.1%}",
                   f"{report['avg_response_time_ms']:.1f}", str(report["input_tokens"]), str(report["output_tokens"]),
                   str(report["images"]))  # fmt: skip
    console = Console()
    console.print(totals)
    for title, rows, first in (("by model", report["by_model"], "model"), ("by route", report["by_route"], "route"),
                               ("by day", report["by_day"], "day")):  # fmt: skip
        if not rows:
            continue
        table = Table(first, "requests", "successful", "input tokens", "output tokens", "images", title=title)
        for row in rows:
            table.add_row(str(row[first]), str(row["requests"]), str(row["successful_requests"]),
                          str(row["input_tokens"]), str(row["output_tokens"]), str(row["images"]))  # fmt: skip
        console.print(table)
