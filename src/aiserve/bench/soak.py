"""`aiserve bench soak`: mixed traffic for a long while (embeddings, image classification and streamed chat, each
request with inputs of its own so no cache answers it), sampling the server's resident memory, to show that
memory stays bounded and nothing fails over time."""

from __future__ import annotations

import asyncio
import base64
import io
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from aiserve.bench.server import ServerProcess

_ADMIN = "sk-soak-admin-" + "s" * 32
_MODELS = ("all-minilm-l6-v2", "efficientnet-lite0", "smollm2-135m-instruct")
_WORDS = ("river", "stone", "light", "cloud", "north", "paper", "garden", "quiet", "signal", "orange", "window",
          "thunder", "silver", "market")  # fmt: skip


def resident_mb(pid: int) -> float | None:
    """A process's resident memory in MB, or None where /proc is missing."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _jpeg(rng: random.Random) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    Image.new("RGB", (rng.randrange(64, 320), rng.randrange(64, 320)), colour).save(buffer, "JPEG")
    return base64.b64encode(buffer.getvalue()).decode()


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randrange(4, 24))) + f" {rng.random():.6f}"


@dataclass
class SoakReport:
    """What a soak run saw."""

    duration_s: float
    clients: int
    answers: Counter[str] = field(default_factory=Counter)
    memory: list[tuple[float, float]] = field(default_factory=list)
    """(seconds since start, resident MB) samples of the server."""

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data, with the memory figures that matter."""
        rss = [mb for _, mb in self.memory]
        settled = [mb for t, mb in self.memory if t >= self.duration_s / 5] or rss
        return {
            "duration_s": self.duration_s,
            "clients": self.clients,
            "answers": dict(self.answers),
            "requests_per_s": round(sum(self.answers.values()) / self.duration_s, 1),
            "rss_start_mb": round(rss[0], 1) if rss else None,
            "rss_max_mb": round(max(rss), 1) if rss else None,
            "rss_end_mb": round(rss[-1], 1) if rss else None,
            "rss_growth_after_warmup_mb": round(settled[-1] - settled[0], 1) if settled else None,
            "memory": [(round(t, 1), round(mb, 1)) for t, mb in self.memory],
        }


async def _client(http: httpx.AsyncClient, seed: int, until: float, report: SoakReport) -> None:
    rng = random.Random(seed)
    while time.monotonic() < until:
        kind = rng.choice(("embeddings", "classify", "chat"))
        try:
            if kind == "embeddings":
                texts = [_sentence(rng) for _ in range(rng.randrange(1, 16))]
                answer = await http.post("/v1/embeddings", json={"model": _MODELS[0], "input": texts})
                status = answer.status_code
            elif kind == "classify":
                answer = await http.post("/v1/classify", json={"image": _jpeg(rng), "top_k": 3})
                status = answer.status_code
            else:
                body = {"model": _MODELS[2], "messages": [{"role": "user", "content": _sentence(rng)}],
                        "max_tokens": rng.randrange(8, 48), "stream": True}  # fmt: skip
                async with http.stream("POST", "/v1/chat/completions", json=body) as stream:
                    status = stream.status_code
                    async for _ in stream.aiter_lines():
                        pass
        except httpx.HTTPError:
            status = 0
        report.answers[f"{kind} {status}"] += 1


async def _sampler(pid: int, started: float, until: float, every_s: float, report: SoakReport) -> None:
    while time.monotonic() < until:
        mb = resident_mb(pid)
        if mb is not None:
            report.memory.append((time.monotonic() - started, mb))
        await asyncio.sleep(every_s)


async def _drive(url: str, pid: int, duration_s: float, clients: int, report: SoakReport) -> None:
    started = time.monotonic()
    until = started + duration_s
    headers = {"Authorization": f"Bearer {_ADMIN}"}
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as http:
        await asyncio.gather(
            _sampler(pid, started, until, max(1.0, duration_s / 120), report),
            *(_client(http, seed, until, report) for seed in range(clients)),
        )


def run_soak(models_dir: Path, *, duration_s: float, clients: int) -> SoakReport:
    """Start a server with the three default models (prepared in `models_dir`) and its own empty database, and
    soak it."""
    report = SoakReport(duration_s=duration_s, clients=clients)
    with tempfile.TemporaryDirectory(prefix="aiserve-soak-") as home:
        (Path(home) / "models").symlink_to(models_dir)
        args = ["--data-dir", home, *(a for m in _MODELS for a in ("--model", m)), "--log-level", "warning"]
        with ServerProcess(args, api_key=_ADMIN, env={"AISERVE_OBSERVABILITY__ACCESS_LOG": "false"}) as server:
            assert server.process is not None
            asyncio.run(_drive(server.url, server.process.pid, duration_s, clients, report))
    return report
