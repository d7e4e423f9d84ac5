"""The `aiserve` root command. Subcommands import their heavy modules lazily so `--help` is instant."""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError

from aiserve import __version__
from aiserve.cli import (
    bench,
    chat,
    classify,
    config,
    db,
    deploy,
    doctor,
    embed,
    evaluate,
    export,
    keys,
    mcp,
    models,
    openapi,
    rerank,
    serve,
    train,
    usage,
    users,
)
from aiserve.errors import AiserveError

app = typer.Typer(
    name="aiserve",
    help="Your own AI API server: embeddings, image classification and chat on hardware you control.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("serve")(serve.serve)
app.command("openapi")(openapi.openapi)
app.command("doctor")(doctor.doctor)
app.command("usage")(usage.usage)
app.command("chat")(chat.chat)
app.command("classify")(classify.classify)
app.command("embed")(embed.embed)
app.command("rerank")(rerank.rerank)
app.command("mcp")(mcp.mcp)
app.command("export")(export.export)
app.command("train")(train.train)
app.command("eval")(evaluate.evaluate)
app.add_typer(models.app, name="models")
app.add_typer(config.app, name="config")
app.add_typer(bench.app, name="bench")
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.add_typer(keys.app, name="keys")
app.add_typer(deploy.app, name="deploy")


@app.command("version")
def version() -> None:
    """Print the version."""
    print(__version__)


def main() -> None:
    """Run the CLI, turning expected failures into one friendly line and exit code 1."""
    from aiserve.client.errors import APIError

    try:
        app()
    except APIError as exc:
        from aiserve.cli.remote import explain

        print(f"error: {explain(exc)}", file=sys.stderr)
        raise SystemExit(1) from None
    except (AiserveError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        print(f"error: invalid setting {where}: {message}" if where else f"error: {message}", file=sys.stderr)
        raise SystemExit(1) from None
    except ValueError as exc:  # a bad argument a command checked itself (an unknown scope)
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
