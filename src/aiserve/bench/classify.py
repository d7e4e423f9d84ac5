"""The classification workload: one ~50 KB JPEG per request; compared at 16 clients with offline batch 1 and 16.
Also the model's device figures: per-image latency after warm-up, parameter count and fp32 size."""

from __future__ import annotations

import base64
import io
import json
import time
from typing import Any

from aiserve.bench.runner import Workload


def sample_jpeg(target_bytes: int = 50_000) -> bytes:
    """A 640×480 photo-like JPEG (smooth gradients plus grain) of about `target_bytes`."""
    from PIL import Image, ImageChops

    size = (640, 480)
    red = Image.linear_gradient("L").resize(size)
    green = Image.radial_gradient("L").resize(size)
    blue = ImageChops.multiply(Image.effect_noise(size, 24), red)
    photo = ImageChops.add(Image.merge("RGB", (red, green, blue)), Image.effect_noise(size, 12).convert("RGB"), 2)
    best = b""
    for quality in range(95, 20, -5):
        buffer = io.BytesIO()
        photo.save(buffer, "JPEG", quality=quality)
        best = buffer.getvalue()
        if len(best) <= target_bytes:
            break
    return best


def classify_workload(model: str = "efficientnet-lite0", image: bytes | None = None) -> Workload:
    """Single-image `/v1/classify` requests (base64 JSON, as a simple client sends them)."""
    data = image or sample_jpeg()
    return Workload(
        model=model,
        path="/v1/classify",
        body=json.dumps({"model": model, "image": base64.b64encode(data).decode()}),
        item=data,
        ratio_at=16,
        offline_batches=(1, 16),
        describe=f"POST /v1/classify, one {len(data) // 1000} KB JPEG per request",
    )


def classifier_facts(backend: Any, runs: int = 50) -> dict[str, Any]:
    """Mean per-image latency at batch 1 after warm-up, parameter count and fp32 size of the ONNX model."""
    item = backend.warmup_items(1)
    for _ in range(5):
        backend.run_batch(item)
    started = time.perf_counter()
    for _ in range(runs):
        backend.run_batch(item)
    latency_ms = (time.perf_counter() - started) / runs * 1000
    params = _parameters(backend.model_dir / "model.onnx")
    return {
        "device": backend.device,
        "latency_ms_batch1": round(latency_ms, 2),
        "parameters": params,
        "fp32_mb": round(params * 4 / 1e6, 1) if params else None,
    }


def _parameters(path: Any) -> int | None:
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        return None
    model = onnx.load(str(path))
    return int(sum(numpy_helper.to_array(t).size for t in model.graph.initializer))
