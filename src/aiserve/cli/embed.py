"""`aiserve embed TEXT...`: vectors from a running server's embedding model."""

from __future__ import annotations

import json
import math
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aiserve.cli.chat import default_model
from aiserve.cli.options import ApiKeyOpt, ConfigOpt, ServerUrlOpt


def embed(
    texts: Annotated[list[str], typer.Argument(help="Texts to embed.")],
    model: Annotated[str | None, typer.Option(help="Embedding model (default: the server's first).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the vectors as JSON.")] = False,
    url: ServerUrlOpt = None,
    api_key: ApiKeyOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Embed texts; a summary table, or the vectors with --json."""
    from aiserve.cli.remote import client_for

    with client_for(url, api_key, config) as client:
        answer = client.embeddings.create(texts, model=model or default_model(client, "embeddings"))
    vectors = [item.embedding for item in answer.data]
    if as_json:
        data = [{"text": text, "embedding": vector} for text, vector in zip(texts, vectors, strict=True)]
        print(json.dumps({"model": answer.model, "data": data}))
        return
    table = Table("text", "dimensions", "norm", "first values", title=f"{answer.model}, {answer.usage.prompt_tokens} "
                  "tokens")  # fmt: skip
    for text, vector in zip(texts, vectors, strict=True):
        assert isinstance(vector, list)
        norm = math.sqrt(sum(x * x for x in vector))
        table.add_row(text, str(len(vector)), f"{norm:.3f}", ", ".join(f"{x:+.3f}" for x in vector[:4]) + ", …")
    Console().print(table)
