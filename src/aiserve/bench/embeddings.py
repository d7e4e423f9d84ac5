"""`aiserve bench embeddings`: HTTP throughput at rising concurrency, against the model's offline limit.

The load generator runs as its own lean process (raw asyncio, keep-alive connections), so the numbers show
what the server does, and its CPU share is reported beside them: on a small machine it competes with the
server for the same cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiserve.bench.offline import OfflineResult, measure_offline
from aiserve.bench.server import ServerProcess
from aiserve.settings import Settings

SENTENCE = "The quick brown fox jumps over the lazy dog while the farmer watches from the porch."


@dataclass(frozen=True)
class BenchConfig:
    """What to measure."""

    model: str = "all-minilm-l6-v2"
    concurrency: tuple[int, ...] = (1, 8, 32, 64)
    duration_s: float = 10.0
    warmup_s: float = 2.0
    url: str | None = None
    offline: bool = False
    text: str = SENTENCE
    server_args: tuple[str, ...] = ()
    api_key: str | None = None


@dataclass
class BenchReport:
    """Everything one run measured."""

    model: str
    cpus: int
    levels: list[dict[str, Any]] = field(default_factory=list)
    offline: list[dict[str, Any]] = field(default_factory=list)

    def ratio(self, concurrency: int = 32, batch: int = 32) -> float | None:
        """HTTP requests/s at `concurrency` over offline inputs/s at `batch`."""
        http = next((lv["rps"] for lv in self.levels if lv["concurrency"] == concurrency), None)
        off = next((o["items_per_s"] for o in self.offline if o["batch_size"] == batch), None)
        return http / off if http and off else None

    def to_dict(self) -> dict[str, Any]:
        """As JSON-ready data."""
        return {
            "model": self.model,
            "cpus": self.cpus,
            "levels": self.levels,
            "offline": self.offline,
            "ratio_http32_over_offline32": self.ratio(),
        }


Tick = Callable[[str, float], None]
"""Progress: called with a stage name and the seconds that stage will take."""


def run_bench(config: BenchConfig, settings: Settings, tick: Tick | None = None) -> BenchReport:
    """Sweep the concurrency levels over HTTP, then (with `offline`) measure the model in process."""
    report = BenchReport(model=config.model, cpus=os.cpu_count() or 1)
    if config.url:
        _sweep(config, config.url, None, report, tick)
    else:
        args = [
            *config.server_args,
            "--model",
            config.model,
            "--log-level",
            "warning",
            "--data-dir",
            str(settings.data_dir),
        ]
        with ServerProcess(args) as server:
            _sweep(config, server.url, server, report, tick)
    if config.offline:
        report.offline = [o.to_dict() for o in offline_throughput(config, settings, tick)]
    return report


def _sweep(config: BenchConfig, url: str, server: ServerProcess | None, report: BenchReport, tick: Tick | None) -> None:
    body = json.dumps({"model": config.model, "input": config.text})
    for level in config.concurrency:
        if tick:
            tick(f"HTTP, {level} clients", config.warmup_s + config.duration_s)
        cpu_before = server.cpu_seconds() if server else None
        started = time.perf_counter()
        result = _run_loadgen(url, body, level, config)
        wall = time.perf_counter() - started
        if server and cpu_before is not None:
            cpu_after = server.cpu_seconds() or cpu_before
            result["server_cpu_share"] = (cpu_after - cpu_before) / wall / report.cpus
        report.levels.append(result)


def _run_loadgen(url: str, body: str, concurrency: int, config: BenchConfig) -> dict[str, Any]:
    parts = urlsplit(url)
    cmd = [
        sys.executable,
        "-m",
        "aiserve.bench.loadgen",
        "--host",
        parts.hostname or "127.0.0.1",
        "--port",
        str(parts.port or 80),
        "--path",
        "/v1/embeddings",
        "--body",
        body,
        "--concurrency",
        str(concurrency),
        "--duration",
        str(config.duration_s),
        "--warmup",
        str(config.warmup_s),
        "--max-requests",
        str(int(concurrency * (config.duration_s + config.warmup_s) * 5000)),
    ]
    if config.api_key:
        cmd += ["--header", f"Authorization: Bearer {config.api_key}"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def offline_throughput(config: BenchConfig, settings: Settings, tick: Tick | None = None) -> list[OfflineResult]:
    """The model's inputs/s in this process at batch 1 and at batch 32."""
    from aiserve.registry.registry import find_spec, load_backend

    backend = load_backend(settings, find_spec(config.model), warmup_batch=32)
    results = []
    for batch in (1, 32):
        if tick:
            tick(f"offline, batch {batch}", config.duration_s)
        results.append(measure_offline(backend, config.text, batch_size=batch, duration_s=config.duration_s))
    backend.unload()
    return results
