"""What the gateway costs: the same cheap route, with the full gateway (key check, rate limit, usage ledger, access
log) and without it, measured in one run.

The route is `POST /v1/inspect` with a 1×1 PNG: a model route (so the ledger records it and the key needs the
`inference` scope) that does almost no work, so the difference is the gateway. Both servers log their access lines
to a file; the gated one counts every request against a limit too high to refuse any.
"""

from __future__ import annotations

import base64
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from aiserve.bench.runner import BenchConfig, BenchReport, Tick, Workload, sweep
from aiserve.bench.server import ServerProcess
from aiserve.settings import Settings

KEY = "sk-bench-gateway-" + "g" * 32


def _tiny_png() -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (1, 1), (10, 20, 30)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def gateway_workload() -> Workload:
    """`POST /v1/inspect` of a 1×1 PNG."""
    body = json.dumps({"image": _tiny_png()})
    return Workload("all-minilm-l6-v2", "/v1/inspect", body, None, 1, (), "POST /v1/inspect, a 1x1 PNG")


def run_gateway_bench(
    settings: Settings,
    *,
    concurrency: tuple[int, ...],
    duration_s: float,
    warmup_s: float,
    database_url: str | None = None,
    redis_url: str | None = None,
    tick: Tick | None = None,
) -> dict[str, Any]:
    """Sweep both servers; per level, p50/p95 and requests/s with and without the gateway, and the added p50."""
    workload = gateway_workload()
    limits = ("REQUESTS_PER_MINUTE", "TOKENS_PER_MINUTE", "MAX_CONCURRENT", "MONTHLY_REQUESTS", "MONTHLY_TOKENS")
    gated_env = {f"AISERVE_RATELIMIT__{name}": "1000000000" for name in limits}  # every limit, none refusing
    if database_url:
        gated_env["AISERVE_DATABASE__URL"] = database_url
    if redis_url:
        gated_env |= {"AISERVE_RATELIMIT__BACKEND": "redis", "AISERVE_RATELIMIT__REDIS_URL": redis_url}
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="aiserve-gateway-") as tmp:
        home = Path(tmp)
        for name, key, env in (("off", None, {}), ("on", KEY, gated_env)):
            args = ["--model", workload.model, "--data-dir", str(home / name)]
            (home / name).mkdir()
            (home / name / "models").symlink_to(settings.models_dir)
            config = BenchConfig(workload, concurrency, duration_s, warmup_s, api_key=key)
            report = BenchReport(workload=workload, cpus=os.cpu_count() or 1)
            with ServerProcess(args, api_key=key, env=env, log_path=home / f"{name}.log") as server:
                sweep(config, server.url, server, report, tick)
            results[name] = report.levels
    levels = []
    for off, on in zip(results["off"], results["on"], strict=True):
        levels.append({
            "concurrency": off["concurrency"], "off_p50_ms": off["p50_ms"], "on_p50_ms": on["p50_ms"],
            "off_p95_ms": off["p95_ms"], "on_p95_ms": on["p95_ms"], "off_rps": off["rps"], "on_rps": on["rps"],
            "added_p50_ms": on["p50_ms"] - off["p50_ms"], "errors": off["errors"] + on["errors"],
        })  # fmt: skip
    return {
        "workload": workload.describe,
        "storage": "postgresql" if database_url else "sqlite",
        "limiter": "redis" if redis_url else "memory",
        "levels": levels,
    }
