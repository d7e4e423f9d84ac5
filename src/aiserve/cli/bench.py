"""`aiserve bench embeddings`: the load generator and the offline comparison."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from aiserve.cli.options import (
    ApiKeyOpt,
    BenchUrlOpt,
    ClientCountsOpt,
    ConfigOpt,
    DataDirOpt,
    DeviceOpt,
    DurationOpt,
    JsonOpt,
    WarmupOpt,
    settings_from,
)

app = typer.Typer(help="Measure throughput and latency.", no_args_is_help=True)


@app.command("embeddings")
def embeddings(
    concurrency: ClientCountsOpt = "1,8,32,64",
    duration: DurationOpt = 10.0,
    warmup: WarmupOpt = 2.0,
    offline: Annotated[bool, typer.Option(help="Also measure the model in process at batch 1 and 32.")] = False,
    url: BenchUrlOpt = None,
    model: Annotated[str, typer.Option(help="Embedding model.")] = "all-minilm-l6-v2",
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Single-sentence requests from N concurrent keep-alive clients; reports requests/s, latency percentiles,
    errors and CPU shares, and with --offline the ratio HTTP-at-32-clients / offline-batch-32."""
    from aiserve.bench.embeddings import embeddings_workload
    from aiserve.bench.runner import BenchConfig

    cfg = BenchConfig(embeddings_workload(model), _levels(concurrency), duration, warmup, url, offline, (), api_key)
    _run(cfg, settings_from(config, data_dir=data_dir), as_json)


@app.command("classify")
def classify(
    concurrency: ClientCountsOpt = "1,4,16,32",
    duration: DurationOpt = 10.0,
    warmup: WarmupOpt = 2.0,
    offline: Annotated[bool, typer.Option(help="Also measure the model in process at batch 1 and 16.")] = False,
    device: DeviceOpt = "auto",
    image: Annotated[Path | None, typer.Option(help="Image to send (default: a generated ~50 KB JPEG).")] = None,
    url: BenchUrlOpt = None,
    model: Annotated[str, typer.Option(help="Classifier.")] = "efficientnet-lite0",
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """One JPEG per request from N concurrent clients; with --offline the ratio HTTP-at-16-clients / best offline
    throughput, plus the model's device figures: latency after warm-up, parameters, fp32 size."""
    from aiserve.bench.classify import classifier_facts, classify_workload
    from aiserve.bench.runner import BenchConfig

    workload = classify_workload(model, image.read_bytes() if image else None)
    cfg = BenchConfig(workload, _levels(concurrency), duration, warmup, url, offline, (), api_key)
    _run(cfg, settings_from(config, data_dir=data_dir, engine__device=device), as_json, classifier_facts)


@app.command("chat")
def chat(
    concurrency: Annotated[str, typer.Option(help="Comma-separated stream counts.")] = "1,2,4,8",
    duration: DurationOpt = 20.0,
    warmup: WarmupOpt = 3.0,
    max_tokens: Annotated[int, typer.Option(help="Tokens per answer.")] = 64,
    offline: Annotated[bool, typer.Option(help="Also measure single-stream decode speed in process.")] = False,
    hostile: Annotated[
        bool, typer.Option(help="Send oversized prompts beside the streams all the while (each is refused).")
    ] = False,
    structured: Annotated[
        bool, typer.Option(help="Run each level free and held to a JSON schema; report the constrained/free rate.")
    ] = False,
    long_prompts: Annotated[
        bool, typer.Option(help="Send ~1,500-token prompts beside the streams; report the longest token gap.")
    ] = False,
    repeated_prompt: Annotated[
        bool, typer.Option(help="Send one prompt over and over (the kept prompt cache answers most of it).")
    ] = False,
    url: BenchUrlOpt = None,
    model: Annotated[str, typer.Option(help="Chat model.")] = "smollm2-135m-instruct",
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Concurrent streaming chats: time to first token (p50/p95), per-stream and aggregate tokens/s, request
    rate; the ratio of aggregate tokens/s at 8 streams to 1 stream."""
    from aiserve.bench.chat import run_chat_bench

    settings = settings_from(config, data_dir=data_dir)
    with Console(stderr=True).status("streaming chats…") if not as_json else _Quiet():
        report = run_chat_bench(settings, model=model, concurrency=_levels(concurrency), duration_s=duration,
                                max_tokens=max_tokens, url=url, offline=offline, api_key=api_key,
                                hostile=hostile, structured=structured, long_prompts=long_prompts,
                                repeated=repeated_prompt, warmup_s=warmup)  # fmt: skip
    if as_json:
        print(json.dumps(report, indent=2))
        return
    title = (
        f"streaming /v1/chat/completions, {report['model']}, {report['max_tokens']} tokens, {report['prompts']} prompts"
    )
    table = Table("streams", "format", "req/s", "aggregate tok/s", "per-stream tok/s", "TTFT p50 ms", "TTFT p95 ms",
                  "median gap ms", "longest gap ms", "errors", title=title)  # fmt: skip
    for lv in report["levels"]:
        table.add_row(str(lv["concurrency"]), lv["format"], f"{lv['requests_per_s']:.2f}",
                      f"{lv['aggregate_tokens_per_s']:.1f}", f"{lv['stream_tokens_per_s']:.1f}",
                      f"{lv['ttft_p50_ms']:.0f}", f"{lv['ttft_p95_ms']:.0f}", f"{lv['median_gap_ms']:.0f}",
                      f"{lv['max_gap_ms']:.0f}",
                      str(lv["errors"]))  # fmt: skip
    console = Console()
    console.print(table)
    if "offline" in report:
        off = report["offline"]
        console.print(f"Offline single stream ({off['runtime']}): {off['tokens_per_s']} tok/s")
    for streams, ratio in report.get("structured_over_free", {}).items():
        if ratio is not None:
            console.print(f"{streams} stream(s): JSON-schema tok/s / free tok/s = [bold]{ratio:.3f}[/bold]")
    if report["ratio_aggregate8_over_single"] is not None:
        console.print(
            f"Aggregate tok/s at 8 streams / 1 stream = [bold]{report['ratio_aggregate8_over_single']:.2f}[/bold]"
        )


@app.command("rerank")
def rerank(
    concurrency: ClientCountsOpt = "1,4,16",
    documents: Annotated[int, typer.Option(min=1, help="Documents per request.")] = 32,
    duration: DurationOpt = 10.0,
    offline: Annotated[bool, typer.Option(help="Also measure the model in process (the limit).")] = False,
    url: BenchUrlOpt = None,
    model: Annotated[str, typer.Option(help="Rerank model.")] = "minilm-rerank",
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """A new query over new documents in every request from N concurrent clients: requests/s, documents/s,
    latency; with --offline the ratio of the best HTTP documents/s to the model's in-process documents/s."""
    from aiserve.bench.rerank import run_rerank_bench

    settings = settings_from(config, data_dir=data_dir)
    with Console(stderr=True).status("reranking…") if not as_json else _Quiet():
        report = run_rerank_bench(settings, model=model, concurrency=_levels(concurrency), documents=documents,
                                  duration_s=duration, url=url, offline=offline, api_key=api_key)  # fmt: skip
    if as_json:
        print(json.dumps(report, indent=2))
        return
    title = f"POST /v1/rerank, {report['model']}, {documents} documents per request, {report['cpus']} CPUs"
    table = Table("clients", "req/s", "documents/s", "p50 ms", "p95 ms", "errors", title=title)
    for lv in report["levels"]:
        table.add_row(str(lv["concurrency"]), f"{lv['requests_per_s']:.2f}", f"{lv['documents_per_s']:.1f}",
                      f"{lv['p50_ms']:.0f}", f"{lv['p95_ms']:.0f}", str(lv["errors"]))  # fmt: skip
    console = Console()
    console.print(table)
    if "offline" in report:
        by_batch = ", ".join(f"batch {b}: {r}" for b, r in report["offline"]["documents_per_s_by_batch"].items())
        console.print(f"Offline, in process: {by_batch} documents/s")
        console.print(f"Best HTTP documents/s / best offline documents/s = [bold]{report['ratio']:.2f}[/bold]")


@app.command("overload")
def overload(
    duration: Annotated[float, typer.Option(help="Seconds of overload.")] = 20.0,
    factor: Annotated[float, typer.Option(min=1.0, help="Offered load, in multiples of the measured capacity.")] = 4.0,
    capacity_duration: Annotated[float, typer.Option(help="Seconds of the closed-loop capacity run.")] = 5.0,
    queue: Annotated[int, typer.Option(min=1, help="The private server's queue, in inputs (--max-queue).")] = 128,
    max_in_flight: Annotated[int, typer.Option(min=1, help="Requests the generator keeps out at most.")] = 512,
    url: BenchUrlOpt = None,
    pid: Annotated[
        int | None, typer.Option(help="With --url: the server's process id, for its memory.", show_default=False)
    ] = None,
    model: Annotated[str, typer.Option(help="Embedding model.")] = "all-minilm-l6-v2",
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Capacity from 32 closed-loop clients, then an open-loop load at --factor times it: refusals (503/429 with
    Retry-After) and their latency, admitted requests and theirs, and the server's memory over the run."""
    from aiserve.bench.overload import OverloadConfig, run_overload

    settings = settings_from(config, data_dir=data_dir)
    cfg = OverloadConfig(model=model, duration_s=duration, factor=factor, capacity_s=capacity_duration, queue=queue,
                         max_in_flight=max_in_flight, url=url, pid=pid, api_key=api_key)  # fmt: skip
    with Console(stderr=True).status("measuring capacity, then overloading…") if not as_json else _Quiet():
        report = run_overload(settings, cfg)
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        _print_overload(report)


def _print_overload(r: dict[str, Any]) -> None:
    queue = f", queue {r['queue_items']} inputs" if r["queue_items"] else ""
    title = f"{r['workload']}, {r['model']}, {r['factor']:g}x capacity for {r['duration_s']:.0f} s, {r['cpus']} CPUs"
    table = Table("", "count", "req/s", "p50 ms", "p99 ms", "max ms", title=title + queue)
    cap = r["capacity"]
    table.add_row(f"capacity ({cap['clients']} clients, closed loop)", "", f"{cap['rps']:.1f}", f"{cap['p50_ms']:.1f}",
                  f"{cap['p99_ms']:.1f}", "")  # fmt: skip
    table.add_row("offered (open loop)", str(r["sent"] + r["skipped"]), f"{r['offered_rps']:.1f}", "", "", "")
    for kind, label in (("admitted", "admitted (2xx)"), ("refused", "refused (503/429)")):
        table.add_row(label, str(r[kind]), f"{r[f'{kind}_rps']:.1f}", f"{r[f'{kind}_p50_ms']:.2f}",
                      f"{r[f'{kind}_p99_ms']:.2f}", f"{r[f'{kind}_max_ms']:.2f}")  # fmt: skip
    table.add_row("errors (timeouts, network)", str(r["errors"]), "", "", "", "")
    table.add_row("other statuses", str(r["other_status"]), "", "", "", "")
    table.add_row("skipped (generator at its in-flight cap)", str(r["skipped"]), "", "", "", "")
    console = Console()
    console.print(table)
    met = "[green]met[/green]" if r["refusal_goal_met"] else "[red]missed[/red]"
    console.print(f"Refusal p99 {r['refused_p99_ms']:.2f} ms: goal <= {r['refusal_goal_ms']:g} ms {met}; "
                  f"Retry-After missing on {r['missing_retry_after']} of {r['refused']} refusals")  # fmt: skip
    if r["rss_start_mb"] is not None:
        console.print(f"Server memory: {r['rss_start_mb']} MB at start, {r['rss_max_mb']} MB at most, "
                      f"{r['rss_end_mb']} MB at the end; slope {r['rss_slope_mb_per_min']:+} MB/min")  # fmt: skip
    server_cpu = "-" if r["server_cpu_share"] is None else f"{r['server_cpu_share']:.0%}"
    console.print(f"CPU: server {server_cpu}, generator {r['client_cpu_share']:.0%}; generator lateness p99 "
                  f"{r['client_lag_p99_ms']:.1f} ms")  # fmt: skip


class _Quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _levels(concurrency: str) -> tuple[int, ...]:
    return tuple(int(c) for c in concurrency.split(",") if c.strip())


def _run(cfg: Any, settings: Any, as_json: bool, facts: Any = None) -> None:
    from aiserve.bench.runner import run_bench

    with _Ticker(Console(stderr=True), quiet=as_json) as tick:
        report = run_bench(cfg, settings, tick, facts)
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
        title=f"{report['workload']}, {report['model']}, {report['cpus']} CPUs",
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
    if report["facts"]:
        console.print("Model: " + ", ".join(f"{k} {v}" for k, v in report["facts"].items()))
    if report["ratio"] is not None:
        console.print(f"{report['ratio_definition']} = [bold]{report['ratio']:.2f}[/bold]")


@app.command("gateway")
def gateway(
    concurrency: ClientCountsOpt = "1,8",
    duration: DurationOpt = 10.0,
    warmup: WarmupOpt = 2.0,
    database_url: Annotated[str | None, typer.Option(help="PostgreSQL URL for the gated server.")] = None,
    redis_url: Annotated[str | None, typer.Option(help="Redis URL for the gated server's limiter.")] = None,
    as_json: JsonOpt = False,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """The gateway's cost: a cheap model route with keys, limits, ledger and logs, against the same route
    without them, in one run; the added p50 per client count."""
    from aiserve.bench.gateway import run_gateway_bench

    settings = settings_from(config, data_dir=data_dir)
    with Console(stderr=True).status("measuring with and without the gateway…") if not as_json else _Quiet():
        report = run_gateway_bench(settings, concurrency=_levels(concurrency), duration_s=duration, warmup_s=warmup,
                                   database_url=database_url, redis_url=redis_url)  # fmt: skip
    if as_json:
        print(json.dumps(report, indent=2))
        return
    title = f"{report['workload']}; gateway on {report['storage']} + {report['limiter']}"
    table = Table("clients", "p50 off ms", "p50 on ms", "added p50 ms", "p95 off ms", "p95 on ms", "req/s off",
                  "req/s on", "errors", title=title)  # fmt: skip
    for lv in report["levels"]:
        table.add_row(str(lv["concurrency"]), f"{lv['off_p50_ms']:.2f}", f"{lv['on_p50_ms']:.2f}",
                      f"{lv['added_p50_ms']:.2f}", f"{lv['off_p95_ms']:.2f}", f"{lv['on_p95_ms']:.2f}",
                      f"{lv['off_rps']:.0f}", f"{lv['on_rps']:.0f}", str(lv["errors"]))  # fmt: skip
    Console().print(table)


@app.command("soak")
def soak(
    duration: Annotated[float, typer.Option(help="Seconds of mixed traffic.")] = 600.0,
    clients: Annotated[int, typer.Option(help="Concurrent clients.", min=1)] = 8,
    plot: Annotated[Path | None, typer.Option(help="Write the server's memory over time to this PNG.")] = None,
    as_json: JsonOpt = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Mixed traffic (embeddings, image classification, streamed chat, distinct inputs) against a fresh server for
    a long while, sampling its resident memory: it should level off, and nothing should fail."""
    from aiserve.bench.soak import run_soak
    from aiserve.cli.progress import prepare_models

    settings = settings_from(None, data_dir=data_dir)
    prepare_models(settings, ["all-minilm-l6-v2", "efficientnet-lite0", "smollm2-135m-instruct"], quiet=as_json)
    with Console(stderr=True).status(f"soaking for {duration:.0f} s…") if not as_json else _Quiet():
        report = run_soak(settings.models_dir, duration_s=duration, clients=clients).to_dict()
    if plot is not None:
        _plot_memory(report["memory"], plot)
    if as_json:
        print(json.dumps(report, indent=2))
        return
    table = Table("answers", "count", title=f"soak: {clients} clients for {duration:.0f} s")
    for name, count in sorted(report["answers"].items()):
        table.add_row(name, str(count))
    console = Console()
    console.print(table)
    console.print(f"{report['requests_per_s']} req/s; server memory {report['rss_start_mb']} MB at start, "
                  f"{report['rss_max_mb']} MB at most, {report['rss_end_mb']} MB at the end; "
                  f"{report['rss_growth_after_warmup_mb']:+} MB after the first fifth")  # fmt: skip


def _plot_memory(samples: list[tuple[float, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 3))
    axes.plot([t / 60 for t, _ in samples], [mb for _, mb in samples])
    axes.set_xlabel("minutes")
    axes.set_ylabel("server resident memory (MB)")
    axes.set_ylim(0, max((mb for _, mb in samples), default=1) * 1.2)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
