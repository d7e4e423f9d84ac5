"""`aiserve bench`: HTTP throughput at rising concurrency against the same model's offline limit, in one run.

The load generator runs as its own lean process (raw asyncio, keep-alive connections), so the numbers show
what the server does, and its CPU share is reported beside the server's: on a small machine both compete for
the same cores. The offline figures run the model's full pipeline (preprocessing included) in process, with no
HTTP at all, after the server has stopped.
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


@dataclass(frozen=True)
class Workload:
    """One kind of request to measure."""

    model: str
    path: str
    body: str
    item: Any
    """The same input, as the model's backend takes it, for the offline figures."""
    ratio_at: int
    """The concurrency whose throughput is compared with the offline limit."""
    offline_batches: tuple[int, ...]
    describe: str


@dataclass(frozen=True)
class BenchConfig:
    """What to measure and how."""

    workload: Workload
    concurrency: tuple[int, ...] = (1, 8, 32, 64)
    duration_s: float = 10.0
    warmup_s: float = 2.0
    url: str | None = None
    offline: bool = False
    server_args: tuple[str, ...] = ()
    api_key: str | None = None


@dataclass
class BenchReport:
    """Everything one run measured."""

    workload: Workload
    cpus: int
    levels: list[dict[str, Any]] = field(default_factory=list)
    offline: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def ratio(self) -> float | None:
        """HTTP requests/s at the workload's concurrency over the best offline inputs/s."""
        http = next((lv["rps"] for lv in self.levels if lv["concurrency"] == self.workload.ratio_at), None)
        best = max((o["items_per_s"] for o in self.offline), default=None)
        return http / best if http and best else None

    def to_dict(self) -> dict[str, Any]:
        """As JSON-ready data."""
        best = max(self.offline, key=lambda o: o["items_per_s"], default=None)
        return {
            "model": self.workload.model,
            "workload": self.workload.describe,
            "cpus": self.cpus,
            "levels": self.levels,
            "offline": self.offline,
            "facts": self.facts,
            "ratio": self.ratio(),
            "ratio_definition": f"HTTP req/s at {self.workload.ratio_at} clients / offline inputs/s at batch "
            f"{best['batch_size'] if best else '?'} (the best offline batch size)",
        }


Tick = Callable[[str, float], None]
"""Progress: called with a stage name and the seconds that stage will take."""
Facts = Callable[[Any], dict[str, Any]]
"""Extra facts about the loaded backend (latency, parameter count), measured offline."""


def run_bench(
    config: BenchConfig, settings: Settings, tick: Tick | None = None, facts: Facts | None = None
) -> BenchReport:
    """Sweep the concurrency levels over HTTP, then (with `offline`) measure the model in process."""
    report = BenchReport(workload=config.workload, cpus=os.cpu_count() or 1)
    if config.url:
        sweep(config, config.url, None, report, tick)
    else:
        args = [
            *config.server_args,
            "--model",
            config.workload.model,
            "--log-level",
            "warning",
            "--data-dir",
            str(settings.data_dir),
            "--device",
            settings.engine.device,
        ]
        with ServerProcess(args) as server:
            sweep(config, server.url, server, report, tick)
    if config.offline:
        results, report.facts = _offline(config, settings, tick, facts)
        report.offline = [o.to_dict() for o in results]
    return report


def sweep(config: BenchConfig, url: str, server: ServerProcess | None, report: BenchReport, tick: Tick | None) -> None:
    """Run the load generator at each concurrency level against `url`, adding each level's result to `report`."""
    for level in config.concurrency:
        if tick:
            tick(f"HTTP, {level} clients", config.warmup_s + config.duration_s)
        cpu_before = server.cpu_seconds() if server else None
        started = time.perf_counter()
        result = _run_loadgen(url, level, config)
        wall = time.perf_counter() - started
        if server and cpu_before is not None:
            cpu_after = server.cpu_seconds() or cpu_before
            result["server_cpu_share"] = (cpu_after - cpu_before) / wall / report.cpus
        report.levels.append(result)


def _run_loadgen(url: str, concurrency: int, config: BenchConfig) -> dict[str, Any]:
    parts = urlsplit(url)
    cmd = [
        sys.executable, "-m", "aiserve.bench.loadgen",
        "--host", parts.hostname or "127.0.0.1", "--port", str(parts.port or 80),
        "--path", config.workload.path, "--body", config.workload.body,
        "--concurrency", str(concurrency), "--duration", str(config.duration_s), "--warmup", str(config.warmup_s),
        "--max-requests", str(int(concurrency * (config.duration_s + config.warmup_s) * 5000)),
    ]  # fmt: skip
    if config.api_key:
        cmd += ["--header", f"Authorization: Bearer {config.api_key}"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def _offline(
    config: BenchConfig, settings: Settings, tick: Tick | None, facts: Facts | None
) -> tuple[list[OfflineResult], dict[str, Any]]:
    from aiserve.engine.backends.base import ModelBackend
    from aiserve.registry.catalog import catalog
    from aiserve.registry.registry import find_spec, load_backend

    workload = config.workload
    backend = load_backend(
        settings, find_spec(workload.model, catalog(settings)), warmup_batch=max(workload.offline_batches)
    )
    if not isinstance(backend, ModelBackend):
        raise TypeError(f"{workload.model} is not a batch model")
    results = []
    for batch in workload.offline_batches:
        if tick:
            tick(f"offline, batch {batch}", config.duration_s)
        results.append(measure_offline(backend, workload.item, batch_size=batch, duration_s=config.duration_s))
    found = facts(backend) if facts else {}
    backend.unload()
    return results, found
