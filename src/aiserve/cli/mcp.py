"""`aiserve mcp`: aiserve's MCP tools on stdin and stdout, for MCP hosts that start their servers as commands
(Claude Desktop, `claude mcp add aiserve -- aiserve mcp`).

By default it relays every message to a running server's `/mcp` with your key (`--url` and `--api-key`, found as
the other client commands find them): that server's loaded models answer, and its keys, limits and ledger count
each tool call, whichever host started the relay. A host starts its own copy for every session, so loading the
models in each would cost seconds and memory every time, and nothing would be counted. `--local` does that anyway:
it builds the server in this process (as `aiserve serve` would, without keys or a socket) and relays to it, for a
laptop with no server running. Either way a `path` given to `classify_image` is read here and sent as the image."""

from __future__ import annotations

from typing import Annotated

import typer

from aiserve.cli.options import ApiKeyOpt, ConfigOpt, DataDirOpt, ServerUrlOpt, settings_from
from aiserve.errors import AiserveError


def mcp(
    local: Annotated[
        bool, typer.Option("--local", help="Load the models in this process instead of using a running server.")
    ] = False,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="With --local: a model to load (repeatable).", show_default=False),
    ] = None,
    url: ServerUrlOpt = None,
    api_key: ApiKeyOpt = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Serve aiserve's tools (classify_image, embed, chat, rerank) to an MCP host over stdio."""
    import anyio

    from aiserve.cli import mcp_relay

    if not local and (model or data_dir):
        raise ValueError("--model and --data-dir load models here: they go with --local")
    if local:
        settings = settings_from(config, data_dir=data_dir, models__enabled=model, auth__enabled=False)
        endpoint, headers, where = mcp_relay.local(settings), {}, "this process"
    else:
        from aiserve.cli.remote import client_for

        with client_for(url, api_key, config) as client:
            base_url, key = client.base_url, client.api_key
        endpoint, where = mcp_relay.remote(base_url), base_url
        headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        anyio.run(mcp_relay.relay, endpoint, headers, where)
    except BaseExceptionGroup as group:  # the SDK's task groups wrap what went wrong
        raise AiserveError(mcp_relay.first_error(group)) from None
