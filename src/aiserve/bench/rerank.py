"""`aiserve bench rerank`: documents per second through `POST /v1/rerank` at rising concurrency, against the
model's own in-process limit, in one run.

Every request asks a new question about new documents (made from word lists by a seeded generator), so nothing
repeats: not within a batch, where the built-in reranker encodes a text shared by several pairs once, and not
between requests. The offline figure runs the same kind of pairs through the backend in process, batch after batch,
with no HTTP: the true limit the server is compared with.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from typing import Any

import httpx

from aiserve.bench.server import against
from aiserve.settings import Settings

_SUBJECTS = ("The river", "A small bakery", "The new library", "Our team", "The old engine", "A local farmer",
             "The city council", "The telescope", "A young pianist", "The hospital", "The museum")  # fmt: skip
_VERBS = ("repaired", "studied", "opened", "measured", "painted", "sold", "described", "protected", "planned",
          "tested", "recorded", "delivered")  # fmt: skip
_OBJECTS = ("the bridge near the station", "fresh bread every morning", "a garden on the roof", "the stars at night",
            "a concert for the school", "new beds for the ward", "maps of the coast", "the price of coffee",
            "a route through the hills", "the rules of the game", "an exhibit on ancient coins",
            "solar panels for the farm")  # fmt: skip
_WHEN = ("last spring", "in 1998", "after the storm", "every weekend", "during the festival", "before winter",
         "for three years", "on a budget", "with volunteers", "at dawn")  # fmt: skip


def _sentence(rng: random.Random) -> str:
    return f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_WHEN)}, " \
           f"report {rng.randrange(10**6)}."  # fmt: skip


def pairs(n_queries: int, documents: int, seed: int) -> list[tuple[str, list[str]]]:
    """`n_queries` distinct questions, each with `documents` distinct documents."""
    rng = random.Random(seed)
    return [(f"Who {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}? ({rng.randrange(10**6)})",
             [_sentence(rng) for _ in range(documents)]) for _ in range(n_queries)]  # fmt: skip


async def _level(url: str, model: str, clients: int, documents: int, duration_s: float, api_key: str | None,
                 seed: int) -> dict[str, Any]:  # fmt: skip
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + duration_s

    async def client(n: int, http: httpx.AsyncClient) -> None:
        nonlocal errors
        rng_seed = seed * 1000 + n
        while time.perf_counter() < stop:
            ((query, texts),) = pairs(1, documents, rng_seed)
            rng_seed += 7919
            started = time.perf_counter()
            body = {"model": model, "query": query, "documents": texts, "return_documents": False}
            response = await http.post("/v1/rerank", json=body, headers=headers)
            if response.status_code == 200:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=120.0, limits=httpx.Limits(max_connections=clients)) as http:
        await asyncio.gather(*(client(n, http) for n in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0

    return {"concurrency": clients, "requests_per_s": round(len(latencies) / elapsed, 2),
            "documents_per_s": round(len(latencies) * documents / elapsed, 1), "p50_ms": round(pct(0.5), 1),
            "p95_ms": round(pct(0.95), 1), "errors": errors}  # fmt: skip


def offline_rate(settings: Settings, model: str, documents: int, duration_s: float) -> dict[str, Any]:
    """Pairs per second through the backend in process (no HTTP), in batches of one request's documents and of the
    engine's largest batch; the best is the limit."""
    from aiserve.engine.backends.base import ModelBackend
    from aiserve.registry.catalog import catalog
    from aiserve.registry.registry import find_spec, load_backend

    backend = load_backend(settings, find_spec(model, catalog(settings)), warmup_batch=documents)
    if not isinstance(backend, ModelBackend):
        raise TypeError(f"{model} is not a rerank model")
    rates = {}
    for size in sorted({documents, settings.engine.max_batch_size}):
        done, started, seed = 0, time.perf_counter(), 1
        while time.perf_counter() - started < duration_s or done == 0:
            batch = [(q, t) for q, texts in pairs(max(1, size // documents) + 1, documents, seed) for t in texts][:size]
            seed += 1
            backend.run_batch(batch)
            done += len(batch)
        rates[size] = round(done / (time.perf_counter() - started), 1)
    backend.unload()
    return {"documents_per_s_by_batch": rates, "best_documents_per_s": max(rates.values())}


def run_rerank_bench(
    settings: Settings, *, model: str, concurrency: tuple[int, ...], documents: int, duration_s: float,
    url: str | None, offline: bool, api_key: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Sweep the concurrency levels over HTTP, then (with `offline`) measure the model in process; the ratio is the
    best HTTP documents/s over the best offline documents/s."""

    def sweep(target: str) -> list[dict[str, Any]]:
        return [asyncio.run(_level(target, model, c, documents, duration_s, api_key, seed=c)) for c in concurrency]

    levels = against(url, model, settings.data_dir, sweep)
    report: dict[str, Any] = {"model": model, "cpus": os.cpu_count(), "documents_per_request": documents,
                              "levels": levels, "ratio": None}  # fmt: skip
    if offline:
        report["offline"] = offline_rate(settings, model, documents, duration_s)
        best_http = max(lv["documents_per_s"] for lv in levels)
        report["ratio"] = round(best_http / report["offline"]["best_documents_per_s"], 3)
    return report
