"""An exported ONNX file, saved after ONNX Runtime's basic graph optimisations when that measures faster here.

The basic level (constant folding, redundant nodes removed, Conv+BN/Add/Mul fused) only rewrites the graph into
standard operators, so the file still runs on any execution provider, quantises, and goes into an edge bundle. The
higher levels write operators for one provider (`FusedConv`) or one CPU's memory layout (`NCHWc`), so a file saved
with them would only be right where it was made; ONNX Runtime applies them anyway when it loads a model."""

from __future__ import annotations

import shutil
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

ROUNDS = 5


@dataclass(frozen=True, slots=True)
class GraphChoice:
    """Both files measured one after the other, and which was kept."""

    nodes: tuple[int, int]
    """As exported, optimised."""
    load_ms: tuple[float, float]
    """Median time to open a session."""
    run_ms: tuple[float, float]
    """Median batch-1 run."""
    kept: str
    """`optimised` or `as exported`."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def optimise(model: Path, example: NDArray[np.float32], *, threads: int) -> GraphChoice:
    """Write the basic-level optimised graph beside `model`, check that it gives the same logits on `example`, time
    opening and running both, and keep it in place of `model` when it has fewer nodes and opening and one run
    together are faster."""
    import onnx
    import onnxruntime as ort

    optimised = model.with_name(model.stem + ".optimised.onnx")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(optimised)
    options.log_severity_level = 3
    ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    try:
        feeds = {"input": np.ascontiguousarray(example)}
        plain, fast = _timed(model, feeds, threads), _timed(optimised, feeds, threads)
        for _ in range(ROUNDS - 1):  # alternate, so a busy moment on the machine slows both alike
            plain.extend(_timed(model, feeds, threads))
            fast.extend(_timed(optimised, feeds, threads))
        same = np.allclose(plain.outputs, fast.outputs, rtol=1e-4, atol=1e-4)
        load = (_median(plain.loads), _median(fast.loads))
        run = (_median(plain.runs), _median(fast.runs))
        nodes = (len(onnx.load(str(model)).graph.node), len(onnx.load(str(optimised)).graph.node))
        better = same and nodes[1] < nodes[0] and load[1] + run[1] < load[0] + run[0]
        if better:
            shutil.move(optimised, model)
        return GraphChoice(nodes, load, run, "optimised" if better else "as exported")
    finally:
        optimised.unlink(missing_ok=True)


@dataclass(slots=True)
class _Times:
    loads: list[float]
    runs: list[float]
    outputs: NDArray[np.float32]

    def extend(self, other: _Times) -> None:
        self.loads += other.loads
        self.runs += other.runs


def _timed(model: Path, feeds: dict[str, NDArray[np.float32]], threads: int) -> _Times:
    from aiserve.engine.backends._ort import open_session

    started = time.perf_counter()
    session = open_session(model, threads=threads, device="cpu")
    load = time.perf_counter() - started
    outputs = session.run(None, feeds)[0]
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        session.run(None, feeds)
        runs.append(time.perf_counter() - started)
    return _Times([load * 1000], [r * 1000 for r in runs], np.asarray(outputs, dtype=np.float32))


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)
