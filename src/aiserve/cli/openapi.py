"""`aiserve openapi`: write the API's OpenAPI document (committed as docs/openapi.json)."""

from __future__ import annotations

import orjson

from aiserve.cli.options import OutputOpt


def openapi(output: OutputOpt = None) -> None:
    """Print or write the OpenAPI document of the server."""
    from aiserve.app import create_app
    from aiserve.settings import Settings

    text = orjson.dumps(create_app(Settings()).openapi(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    if output is None:
        print(text)
    else:
        output.write_text(text + "\n")
