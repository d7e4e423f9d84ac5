"""`aiserve serve`: prepare the models if needed, then run the API server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from aiserve.cli.options import ConfigOpt, DataDirOpt, settings_from


def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default: 127.0.0.1).", show_default=False)
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: 8000).", show_default=False)] = None,
    model: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="Model to serve (repeatable).", show_default=False)
    ] = None,
    threads: Annotated[int | None, typer.Option(help="Inference threads per model (default: one per core).")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda (default: auto).")] = None,
    max_batch_size: Annotated[int | None, typer.Option(help="Most inputs per forward pass (default: 32).")] = None,
    max_wait_ms: Annotated[float | None, typer.Option(help="Batch fill wait in ms (default: 2).")] = None,
    max_queue: Annotated[int | None, typer.Option(help="Most queued inputs per model (default: 4096).")] = None,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning or error.")] = None,
    log_format: Annotated[str | None, typer.Option(help="auto, json or text.")] = None,
    bundle: Annotated[
        Path | None, typer.Option(help="Serve an edge bundle (`aiserve export --bundle`), checked first.")
    ] = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Serve the API. Flags override AISERVE_* environment variables, which override the config file."""
    bundled: list[str] | None = None
    if bundle is not None:
        from aiserve.registry.bundle import verify_bundle

        bundled = verify_bundle(bundle)
    settings = settings_from(
        config,
        server__host=host,
        server__port=port,
        models__enabled=model or bundled,
        models__dir=bundle / "models" if bundle is not None else None,
        models__prepare_on_start=False if bundle is not None else None,
        engine__threads=threads,
        engine__device=device,
        engine__max_batch_size=max_batch_size,
        engine__max_wait_ms=max_wait_ms,
        engine__max_queue_items=max_queue,
        observability__log_level=log_level,
        observability__log_format=log_format,
        data_dir=data_dir,
    )
    import uvicorn

    from aiserve.api.connections import ConnectionLimits, guarded
    from aiserve.app import create_app
    from aiserve.cli.progress import prepare_models

    if settings.models.prepare_on_start:
        prepare_models(settings, settings.models.enabled)
    app = create_app(settings)
    server = settings.server
    uvicorn_config = uvicorn.Config(
        app,
        host=server.host,
        port=server.port,
        loop="auto",
        http=guarded(
            ConnectionLimits(
                server.header_timeout_s, server.body_timeout_s, server.max_header_bytes, server.max_headers
            )
        ),  # fmt: skip
        limit_concurrency=server.max_connections,
        log_config=None,
        access_log=False,
        proxy_headers=False,  # the app reads forwarding headers itself, from server.trusted_proxies only
        timeout_graceful_shutdown=int(server.graceful_shutdown_s),
        timeout_keep_alive=30,
    )
    draining_server(uvicorn_config, app.state.services.drain, server.graceful_shutdown_s).run()


def draining_server(config: Any, drain: Any, drain_s: float) -> Any:
    """A uvicorn server whose first SIGTERM or Ctrl-C drains (not ready, new work refused with 503, in-flight work
    finished for up to `drain_s`) before the usual shutdown; a second one stops at once."""
    import uvicorn

    class DrainingServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            if drain.draining:  # asked twice: stop now
                super().handle_exit(sig, frame)
                return
            drain.begin()

        async def on_tick(self, counter: int) -> bool:
            if drain.draining and drain.finished(drain_s):
                return True
            return await super().on_tick(counter)

    return DrainingServer(config)
