"""`aiserve openapi`: write the API's OpenAPI document (committed as docs/openapi.json)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer


def openapi(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")] = None,
) -> None:
    """Print or write the OpenAPI document of the server."""
    from aiserve.app import create_app
    from aiserve.settings import Settings

    text = orjson.dumps(create_app(Settings()).openapi(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    if output is None:
        print(text)
    else:
        output.write_text(text + "\n")
