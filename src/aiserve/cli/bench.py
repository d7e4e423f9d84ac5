"""`aiserve bench embeddings`: the load generator and the offline comparison."""

from __future__ import annotations

import json
import threading
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from aiserve.cli.options import ConfigOpt, DataDirOpt, settings_from

app = typer.Typer(help="Measure throughput and latency.", no_args_is_help=True)


@app.command("embeddings")
def embeddings(
    concurrency: Annotated[str, typer.Option(help="Comma-separated client counts.")] = "1,8,32,64",
    duration: Annotated[float, typer.Option(help="Seconds measured per level.")] = 10.0,
    warmup: Annotated[float, typer.Option(help="Unmeasured seconds before each level.")] = 2.0,
    offline: Annotated[bool, typer.Option(help="Also measure the model in process at batch 1 and 32.")] = False,
    url: Annotated[str | None, typer.Option(help="Bench a running server instead of starting one.")] = None,
    model: Annotated[str, typer.Option(help="Embedding model.")] = "all-minilm-l6-v2",
    api_key: Annotated[
        str | None, typer.Option(envvar="AISERVE_API_KEY", help="Key for a server that needs one.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Single-sentence requests from N concurrent keep-alive clients; reports requests/s, latency percentiles,
    errors and CPU shares, and with --offline the ratio HTTP-at-32-clients / offline-batch-32."""
    from aiserve.bench.embeddings import BenchConfig, run_bench

    settings = settings_from(config, data_dir=data_dir)
    levels = tuple(int(c) for c in concurrency.split(",") if c.strip())
    cfg = BenchConfig(
        model=model, concurrency=levels, duration_s=duration, warmup_s=warmup, url=url, offline=offline, api_key=api_key
    )
    console = Console(stderr=True)
    with _Ticker(console, quiet=as_json) as tick:
        report = run_bench(cfg, settings, tick)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report.to_dict())


class _Ticker:
    """A progress bar that advances with the clock through each stage of the run."""

    def __init__(self, console: Console, *, quiet: bool) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=quiet,
        )
        self._stop = threading.Event()
        self._current: tuple[Any, float, float] | None = None

    def __enter__(self) -> _Ticker:
        self._progress.start()
        self._thread = threading.Thread(target=self._advance, daemon=True)
        self._thread.start()
        return self

    def __call__(self, stage: str, seconds: float) -> None:
        if self._current:
            self._progress.update(self._current[0], completed=self._current[2])
        task = self._progress.add_task(stage, total=seconds)
        self._current = (task, time.monotonic(), seconds)

    def _advance(self) -> None:
        while not self._stop.wait(0.2):
            if self._current:
                task, started, total = self._current
                self._progress.update(task, completed=min(total, time.monotonic() - started))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._progress.stop()


def _print_report(report: dict[str, Any]) -> None:
    console = Console()
    table = Table(
        "clients",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "errors",
        "client CPU",
        "server CPU",
        title=f"HTTP /v1/embeddings, {report['model']}, 1 sentence per request, {report['cpus']} CPUs",
    )
    for lv in report["levels"]:
        server_cpu = lv.get("server_cpu_share")
        table.add_row(
            str(lv["concurrency"]),
            f"{lv['rps']:.1f}",
            f"{lv['p50_ms']:.1f}",
            f"{lv['p95_ms']:.1f}",
            f"{lv['p99_ms']:.1f}",
            str(lv["errors"]),
            f"{lv['cpu_share']:.0%}",
            "-" if server_cpu is None else f"{server_cpu:.0%}",
        )
    console.print(table)
    if report["offline"]:
        off = Table("batch", "inputs/s", title="Offline, in process (no HTTP)")
        for o in report["offline"]:
            off.add_row(str(o["batch_size"]), f"{o['items_per_s']:.1f}")
        console.print(off)
    ratio = report.get("ratio_http32_over_offline32")
    if ratio is not None:
        console.print(f"HTTP at 32 clients / offline batch 32 = [bold]{ratio:.2f}[/bold]")
