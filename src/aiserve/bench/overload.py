"""`aiserve bench overload`: the server at several times what it can serve. Refusals (503 or 429, each with
`Retry-After`) should come at once, admitted requests should keep a bounded latency, and memory should stay flat.

Two phases against `POST /v1/embeddings`, one sentence per request, each sentence new (a number of its own), so no
cache answers any:

1. capacity: closed-loop, `capacity_clients` keep-alive clients for `capacity_s` (after a 1 s warmup); the
   requests/s they get is what the server sustains;
2. overload: open-loop at `factor` × that rate for `duration_s` (`aiserve.bench.openloop`: requests leave on
   schedule whatever the answers, at most `max_in_flight` out), while the server's resident memory is sampled.

Both run in the lean load generator process (`aiserve.bench.loadgen`), on loopback. A private server is started
with a queue of `queue` inputs (`--max-queue`) that one client may fill whole (`AISERVE_ENGINE__MAX_QUEUE_SHARE=1`;
every request here comes from one address): the default queue (4,096 inputs, half of it per client) holds about
10 s of this workload on two cores, so the generator's in-flight cap, not the server, would bound the run.

The report: capacity, offered, admitted and refused requests/s; latency p50/p99/max of refusals and of admitted
requests; refusals without `Retry-After`; errors (timeouts, network); the server's resident memory at the start, at
most and at the end, and its least-squares slope in MB per minute after the run's first fifth (which fills
connection pools and buffers); the CPU shares of server and generator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiserve.bench.server import ServerProcess, process_cpu_seconds
from aiserve.bench.soak import resident_mb
from aiserve.settings import Settings

MARKER = "@N@"
REFUSAL_GOAL_MS = 5.0
_SENTENCE = f"Overload probe {MARKER}: the quick brown fox jumps over the lazy dog while the farmer watches."


@dataclass(frozen=True)
class OverloadConfig:
    """What to measure and how."""

    model: str = "all-minilm-l6-v2"
    duration_s: float = 20.0
    factor: float = 4.0
    capacity_clients: int = 32
    capacity_s: float = 5.0
    max_in_flight: int = 512
    queue: int = 128
    """The private server's queue, in inputs (`--max-queue`)."""
    timeout_s: float = 30.0
    sample_s: float = 0.5
    url: str | None = None
    pid: int | None = None
    """The server's process id, for its memory and CPU, with `url` (a private server's is known)."""
    api_key: str | None = None


def run_overload(settings: Settings, config: OverloadConfig) -> dict[str, Any]:
    """Measure capacity, then overload a private server (or `config.url`) at `config.factor` times it."""
    if config.url:
        return _measure(config.url, config.pid, config)
    args = ["--model", config.model, "--log-level", "warning", "--data-dir", str(settings.data_dir),
            "--device", settings.engine.device, "--max-queue", str(config.queue)]  # fmt: skip
    with ServerProcess(args, env={"AISERVE_ENGINE__MAX_QUEUE_SHARE": "1"}) as server:
        assert server.process is not None
        report = _measure(server.url, server.process.pid, config)
    report["queue_items"] = config.queue
    return report


def _measure(url: str, pid: int | None, config: OverloadConfig) -> dict[str, Any]:
    capacity = json.loads(_loadgen(url, config, "--concurrency", str(config.capacity_clients),
                                   "--duration", str(config.capacity_s), "--warmup", "1").communicate()[0])  # fmt: skip
    if capacity["rps"] <= 0:
        raise RuntimeError(f"no request succeeded while measuring capacity: {capacity['status_counts']}")
    rate = capacity["rps"] * config.factor
    cpu_before = process_cpu_seconds(pid) if pid else None
    started = time.monotonic()
    memory: list[tuple[float, float]] = []
    load = _loadgen(url, config, "--rate", f"{rate:.3f}", "--concurrency", str(config.max_in_flight),
                    "--duration", str(config.duration_s), module="openloop")  # fmt: skip
    while load.poll() is None:
        if pid and (mb := resident_mb(pid)) is not None:
            memory.append((time.monotonic() - started, mb))
        time.sleep(config.sample_s)
    out, err = load.communicate()
    if load.returncode != 0:
        raise RuntimeError(f"the load generator failed: {err.strip()}")
    wall = time.monotonic() - started
    cpu_after = process_cpu_seconds(pid) if pid else None
    report = _report(config, capacity, json.loads(out), memory)
    if cpu_before is not None and cpu_after is not None:
        report["server_cpu_share"] = round((cpu_after - cpu_before) / wall / (os.cpu_count() or 1), 3)
    return report


def _loadgen(url: str, config: OverloadConfig, *args: str, module: str = "loadgen") -> subprocess.Popen[str]:
    parts = urlsplit(url)
    body = json.dumps({"model": config.model, "input": _SENTENCE})
    cmd = [sys.executable, "-m", f"aiserve.bench.{module}", "--host", parts.hostname or "127.0.0.1",
           "--port", str(parts.port or 80), "--path", "/v1/embeddings", "--body", body, "--vary", MARKER,
           "--timeout", str(config.timeout_s), *args]  # fmt: skip
    if config.api_key:
        cmd += ["--header", f"Authorization: Bearer {config.api_key}"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def slope_per_minute(samples: list[tuple[float, float]]) -> float | None:
    """The least-squares slope of (seconds, value) samples, per minute; None for fewer than two."""
    if len(samples) < 2:
        return None
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    if spread == 0:
        return None
    return sum((t - mean_t) * (v - mean_v) for t, v in samples) / spread * 60.0


def _report(
    config: OverloadConfig, capacity: dict[str, Any], run: dict[str, Any], memory: list[tuple[float, float]]
) -> dict[str, Any]:
    window = run["elapsed_s"]
    rss = [mb for _, mb in memory]
    # the first fifth fills the generator's connection pool and the server's buffers: growth, not a leak
    slope = slope_per_minute([(t, mb) for t, mb in memory if t >= window / 5])
    return {
        "model": config.model,
        "workload": "POST /v1/embeddings, 1 new sentence per request",
        "cpus": os.cpu_count(),
        "queue_items": None,
        "capacity": {
            "clients": config.capacity_clients,
            "rps": round(capacity["rps"], 1),
            "p50_ms": round(capacity["p50_ms"], 1),
            "p99_ms": round(capacity["p99_ms"], 1),
            "errors": capacity["errors"],
        },
        "factor": config.factor,
        "duration_s": round(window, 2),
        "max_in_flight": config.max_in_flight,
        "offered_rps": round(run["rate"], 1),
        "sent": run["sent"],
        "skipped": run["skipped"],
        "admitted": run["admitted"],
        "refused": run["refused"],
        "other_status": run["other_status"],
        "errors": run["errors"],
        "timeouts": run["timeouts"],
        "status_counts": run["status_counts"],
        "admitted_rps": round(run["admitted"] / window, 1),
        "refused_rps": round(run["refused"] / window, 1),
        **{
            f"{kind}_{q}_ms": round(run[f"{kind}_{q}_ms"], 2)
            for kind in ("admitted", "refused")
            for q in ("p50", "p99", "max")
        },
        "missing_retry_after": run["missing_retry_after"],
        "refusal_goal_ms": REFUSAL_GOAL_MS,
        "refusal_goal_met": run["refused"] > 0 and run["refused_p99_ms"] <= REFUSAL_GOAL_MS,
        "rss_start_mb": round(rss[0], 1) if rss else None,
        "rss_max_mb": round(max(rss), 1) if rss else None,
        "rss_end_mb": round(rss[-1], 1) if rss else None,
        "rss_slope_mb_per_min": round(slope, 2) if slope is not None else None,
        "memory": [(round(t, 1), round(mb, 1)) for t, mb in memory],
        "client_cpu_share": round(run["cpu_share"], 3),
        "client_lag_p99_ms": round(run["lag_p99_ms"], 2),
        "connections": run["connections"],
        "server_cpu_share": None,
    }
