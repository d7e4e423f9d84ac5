"""`aiserve classify IMAGE...`: what a running server sees in each image, top-k as percentages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aiserve.cli.options import ApiKeyOpt, ConfigOpt, JsonOpt, ServerUrlOpt

# the formats the server decodes, by their first bytes
SIGNATURES = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
              (b"BM", "BMP"))  # fmt: skip


def image_format(data: bytes) -> str | None:
    """JPEG, PNG, GIF, WebP or BMP by the file's signature; None for anything else."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return next((name for magic, name in SIGNATURES if data.startswith(magic)), None)


def classify(
    images: Annotated[list[Path], typer.Argument(help="Image files (JPEG, PNG, GIF, WebP, BMP).")],
    model: Annotated[str | None, typer.Option(help="Classifier (default: the server's).")] = None,
    top_k: Annotated[int, typer.Option(help="How many labels per image.", min=1, max=20)] = 5,
    as_json: JsonOpt = False,
    url: ServerUrlOpt = None,
    api_key: ApiKeyOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Classify images on a running server."""
    from aiserve.cli.remote import client_for
    from aiserve.errors import AiserveError

    loaded = []
    for path in images:
        if not path.is_file():
            raise AiserveError(f"{path}: no such file")
        data = path.read_bytes()
        if image_format(data) is None:
            raise AiserveError(f"{path}: not an image the server reads (JPEG, PNG, GIF, WebP or BMP)")
        loaded.append((path, data))
    console = Console()
    results = []
    with client_for(url, api_key, config) as client:
        for path, data in loaded:
            answer = client.images.classify(data, model=model, top_k=top_k, filename=path.name)
            results.append({"file": str(path), **answer.model_dump()})
            if as_json:
                continue
            table = Table("label", "confidence", title=f"{path.name} ({answer.model})")
            for prediction in answer.predictions:
                table.add_row(prediction.label, f"{prediction.confidence:.1%}")
            console.print(table)
    if as_json:
        print(json.dumps(results, indent=2))
