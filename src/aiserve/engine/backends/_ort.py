"""One way to open an ONNX Runtime session, shared by the ONNX backends."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def open_session(path: Path, *, threads: int, device: str, spinning: bool = False) -> Any:
    """A session on `device` (`cpu` or `cuda`) with `threads` intra-op threads. Idle threads do not spin by
    default, which leaves the cores to the HTTP server between batches."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
    return ort.InferenceSession(str(path), opts, providers=providers)
