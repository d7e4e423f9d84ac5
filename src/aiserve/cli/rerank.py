"""`aiserve rerank QUERY FILE...`: order documents by their relevance to a query, on a running server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aiserve.cli.options import ApiKeyOpt, ConfigOpt, ServerUrlOpt

SNIPPET = 80
"""Characters of each document shown in the table."""


def documents_of(files: list[Path], *, lines: bool) -> list[tuple[str, str]]:
    """`(where, text)` for each document: each file whole, or each non-empty line of each file."""
    found: list[tuple[str, str]] = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        if not lines:
            found.append((str(path), text))
            continue
        found.extend((f"{path}:{n}", line) for n, line in enumerate(text.splitlines(), start=1) if line.strip())
    return found


def rerank(
    query: Annotated[str, typer.Argument(help="What the documents are ranked against.")],
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Documents: one per file, or one per line with --lines.", exists=True, dir_okay=False, readable=True
        ),
    ],  # fmt: skip
    lines: Annotated[bool, typer.Option("--lines", help="Each non-empty line of the files is a document.")] = False,
    top: Annotated[int | None, typer.Option("--top", min=1, help="Show only the best N.")] = None,
    model: Annotated[str | None, typer.Option(help="Rerank model (default: the server's first).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    url: ServerUrlOpt = None,
    api_key: ApiKeyOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Rank the documents, best first: a table, or JSON with --json."""
    from aiserve.cli.remote import client_for

    documents = documents_of(files, lines=lines)
    if not documents:
        raise typer.BadParameter("the files hold no documents", param_hint="FILE")
    with client_for(url, api_key, config) as client:
        answer = client.rerank(query, [text for _, text in documents], model=model, top_n=top, return_documents=False)
    if as_json:
        results = [{"where": documents[r.index][0], "index": r.index, "relevance_score": r.relevance_score}
                   for r in answer.results]  # fmt: skip
        print(json.dumps({"model": answer.model, "results": results}))
        return
    table = Table("rank", "score", "document", "text", title=f"{answer.model}, {answer.usage.total_tokens} tokens")
    for rank, result in enumerate(answer.results, start=1):
        where, text = documents[result.index]
        snippet = " ".join(text.split())
        snippet = snippet if len(snippet) <= SNIPPET else snippet[: SNIPPET - 1] + "…"
        table.add_row(str(rank), f"{result.relevance_score:.3f}", Path(where).name, snippet)  # the JSON has the path
    Console().print(table)
