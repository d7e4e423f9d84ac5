"""Building successful responses: JSON bytes plus the timing headers every model route sends."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response


def model_response(request: Request, body: bytes, *, queue_s: float, inference_s: float) -> Response:
    """A JSON response with `x-queue-time` and `x-inference-time` (ms); records queue time for the access log."""
    request.state.queue_s = queue_s
    headers = {"x-queue-time": f"{queue_s * 1000:.2f}", "x-inference-time": f"{inference_s * 1000:.2f}"}
    return Response(body, media_type="application/json", headers=headers)
