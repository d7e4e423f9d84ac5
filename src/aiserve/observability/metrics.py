"""Every Prometheus metric aiserve exports, on a registry of its own per app."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass(frozen=True, slots=True)
class ModelFigures:
    """One model's figures so far, as the metrics hold them."""

    queue_depth: int = 0
    batches: int = 0
    batched_inputs: int = 0
    generated_tokens: int = 0
    generations: int = 0


class Metrics:
    """The app's metrics. Also the engine's observer: batches, queue depth, rejections."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "aiserve_requests", "HTTP requests by route, model and status.", ["route", "model", "status"], registry=r
        )
        self.latency = Histogram(
            "aiserve_request_duration_seconds",
            "HTTP request latency.",
            ["route", "model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "aiserve_queue_wait_seconds",
            "Time a request waited before its first batch ran.",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge("aiserve_queue_depth", "Inputs waiting to run.", ["model"], registry=r)
        self.batch_size = Histogram(
            "aiserve_batch_size", "Inputs per forward pass.", ["model"], buckets=_BATCH_BUCKETS, registry=r
        )
        self.batch_latency = Histogram(
            "aiserve_batch_duration_seconds",
            "Time one batch took to run.",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.rejections = Counter(
            "aiserve_rejections", "Requests refused before running, by reason.", ["model", "reason"], registry=r
        )
        self.models_ready = Gauge("aiserve_models_ready", "Models loaded and warmed.", registry=r)
        self.generations = Counter(
            "aiserve_generations", "Answers generated, by how they ended.", ["model", "reason"], registry=r
        )
        self.generated_tokens = Counter("aiserve_generated_tokens", "Tokens generated.", ["model"], registry=r)
        self.ledger_dead_letters = Counter(
            "aiserve_ledger_dead_letters",
            "Usage events the database refused, kept in the dead-letter file.",
            registry=r,
        )

    def observe_request(self, route: str, model: str, status: int, latency_s: float, queue_s: float | None) -> None:
        """Count one finished HTTP request."""
        self.requests.labels(route, model, str(status)).inc()
        self.latency.labels(route, model).observe(latency_s)
        if queue_s is not None and model:
            self.queue_wait.labels(model).observe(queue_s)

    def batch_done(self, model_id: str, size: int, inference_s: float) -> None:
        """Record one batch."""
        self.batch_size.labels(model_id).observe(size)
        self.batch_latency.labels(model_id).observe(inference_s)

    def queue_changed(self, model_id: str, depth: int) -> None:
        """Record the queue depth."""
        self.queue_depth.labels(model_id).set(depth)

    def rejected(self, model_id: str, reason: str) -> None:
        """Count a refused request."""
        self.rejections.labels(model_id, reason).inc()

    def generation_done(self, model_id: str, reason: str, tokens: int) -> None:
        """Count one finished answer and its tokens."""
        self.generations.labels(model_id, reason).inc()
        self.generated_tokens.labels(model_id).inc(tokens)

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)

    def requests_answered(self) -> int:
        """HTTP requests answered so far."""
        return int(sum(_by_model(self.requests, "_total").values()))

    def figures(self) -> dict[str, ModelFigures]:
        """Each model's figures so far, by the `id@version` the engine serves it under."""
        read = {
            "queue_depth": _by_model(self.queue_depth, ""),
            "batches": _by_model(self.batch_size, "_count"),
            "batched_inputs": _by_model(self.batch_size, "_sum"),
            "generated_tokens": _by_model(self.generated_tokens, "_total"),
            "generations": _by_model(self.generations, "_total"),
        }
        models = set().union(*read.values())
        return {m: ModelFigures(**{name: int(values.get(m, 0)) for name, values in read.items()}) for m in models}


def _by_model(metric: MetricWrapperBase, suffix: str) -> dict[str, float]:
    """A metric's samples named with `suffix`, summed by model (its other labels added up)."""
    sums: defaultdict[str, float] = defaultdict(float)
    for family in metric.collect():
        for sample in family.samples:
            if sample.name == family.name + suffix:
                sums[sample.labels.get("model", "")] += sample.value
    return dict(sums)
