"""int8 quantisation with ONNX Runtime, and the fp32-vs-int8 comparison that decides whether the result is served.

CNNs get static quantisation (QDQ, per-channel weights, activations calibrated on training images); transformer
models get dynamic per-channel quantisation (weights int8, activations quantised on the fly)."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import statistics
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aiserve.engine.backends._ort import open_session
from aiserve.registry.local import local_spec, publish
from aiserve.registry.spec import ModelSpec
from aiserve.settings import Settings
from aiserve.training.dataset import Dataset
from aiserve.training.evaluate import evaluate, open_classifier, pixels

FloatArray = NDArray[np.float32]


_INT8_OPS = frozenset(
    {"QuantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "QLinearConv", "QLinearMatMul"}
)


def is_quantized(model: Path) -> bool:
    """Whether the graph already holds int8 operators or int8 weights (quantising it again changes nothing)."""
    import onnx

    graph = onnx.load(str(model), load_external_data=False).graph
    int8 = (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)
    return any(node.op_type in _INT8_OPS for node in graph.node) or any(w.data_type in int8 for w in graph.initializer)


def quantize_static(src: Path, dst: Path, calibration: FloatArray, *, batch_size: int = 16) -> None:
    """Static QDQ int8 (uint8 activations, int8 per-channel weights), calibrated with min/max on `calibration`
    (N×3×H×W, the images the server would feed)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static as ort_quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._batches: Iterator[FloatArray] = iter(
                calibration[i : i + batch_size] for i in range(0, len(calibration), batch_size)
            )

        def get_next(self) -> dict[str, FloatArray] | None:
            batch = next(self._batches, None)
            return None if batch is None else {"input": np.ascontiguousarray(batch)}

    prepared = dst.with_name(dst.stem + ".pre.onnx")
    with quiet():
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
        ort_quantize_static(
            str(prepared),
            str(dst),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    prepared.unlink(missing_ok=True)


def quantize_dynamic(src: Path, dst: Path) -> None:
    """Dynamic int8 with per-channel weights: per-tensor loses too much on transformers (cosine 0.94 vs 0.987 on
    MiniLM)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic as ort_quantize_dynamic

    with quiet():
        ort_quantize_dynamic(str(src), str(dst), per_channel=True, weight_type=QuantType.QInt8)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The quantiser logs and warns about every node it skips; none of it matters to the user."""
    level = logging.root.level
    logging.root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.root.setLevel(level)


@dataclass(frozen=True, slots=True)
class Variant:
    """One model file's measurements."""

    file: str
    size_bytes: int
    latency_ms_batch1: float
    latency_ms_batch16: float
    accuracy: float | None


Feeds = dict[str, NDArray[Any]]


def latency_ms(model: Path, feeds: Feeds, *, threads: int, repeats: int = 20, device: str = "cpu") -> float:
    """Median wall time of one `session.run` on `feeds`, in process, after warming up."""
    session = open_session(model, threads=threads, device=device)
    wanted = {i.name for i in session.get_inputs()}
    feeds = {name: value for name, value in feeds.items() if name in wanted}
    for _ in range(3):
        session.run(None, feeds)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        session.run(None, feeds)
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 3)


def batch_of(array: NDArray[Any], n: int) -> NDArray[Any]:
    """`n` rows taken from `array`, repeated when there are fewer."""
    reps = -(-n // max(len(array), 1))
    return np.ascontiguousarray(np.concatenate([array] * reps)[:n])


def measure(model: Path, feeds: Feeds, accuracy: float | None, *, threads: int, device: str = "cpu") -> Variant:
    """Size, and latency at batch 1 and 16 on the first rows of `feeds` (on `device`: `cpu` or `cuda`)."""
    return Variant(
        file=model.name,
        size_bytes=model.stat().st_size,
        latency_ms_batch1=latency_ms(
            model, {k: batch_of(v, 1) for k, v in feeds.items()}, threads=threads, device=device
        ),
        latency_ms_batch16=latency_ms(
            model, {k: batch_of(v, 16) for k, v in feeds.items()}, threads=threads, repeats=10, device=device
        ),
        accuracy=accuracy,
    )


@dataclass(frozen=True, slots=True)
class Comparison:
    """The original model against its compressed version (int8, pruned or sparse) on the same images, and the
    verdict."""

    source: str
    target: str
    method: str
    kind: str
    """What the compressed model is: `int8`, `pruned` or `sparse` (its column in the report)."""
    original: Variant
    compressed: Variant
    agreement: float
    """Share of test items whose top-1 answer (class, or nearest passage) is the same."""
    images: int
    """Test items: images, or texts for an embedding model."""
    max_drop: float
    """In accuracy points."""
    calibration_images: int
    cosine: float | None = None
    """Embedding models: mean cosine similarity of int8 to fp32 vectors."""

    @property
    def drop(self) -> float | None:
        """Accuracy points lost (negative: gained)."""
        if self.original.accuracy is None or self.compressed.accuracy is None:
            return None
        return round((self.original.accuracy - self.compressed.accuracy) * 100, 2)

    @property
    def acceptable(self) -> bool:
        """Within the allowed accuracy drop (always, when there is no labelled data to check)."""
        drop = self.drop
        return drop is None or drop <= self.max_drop

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {**asdict(self), "drop_points": self.drop, "acceptable": self.acceptable}

    def write(self, folder: Path) -> None:
        """`compression.json` and `compression.md` in `folder`."""
        (folder / "compression.json").write_text(json.dumps(self.to_dict(), indent=2))
        (folder / REPORT).write_text(self.to_markdown())

    def to_markdown(self) -> str:
        """The comparison as a short Markdown report."""

        def pct(value: float | None) -> str:
            return "n/a" if value is None else f"{value * 100:.2f} %"

        f, q = self.original, self.compressed
        rows = [
            (
                "file size",
                f"{f.size_bytes / 1e6:.2f} MB",
                f"{q.size_bytes / 1e6:.2f} MB",
                _ratio(f.size_bytes, q.size_bytes),
            ),
            (
                "latency, batch 1",
                f"{f.latency_ms_batch1:.2f} ms",
                f"{q.latency_ms_batch1:.2f} ms",
                _ratio(f.latency_ms_batch1, q.latency_ms_batch1),
            ),
            (
                "latency, batch 16",
                f"{f.latency_ms_batch16:.2f} ms",
                f"{q.latency_ms_batch16:.2f} ms",
                _ratio(f.latency_ms_batch16, q.latency_ms_batch16),
            ),
            ("accuracy", pct(f.accuracy), pct(q.accuracy), _points(self.drop)),
        ]
        calibrated = f"{self.calibration_images} calibration images; " if self.calibration_images else ""
        close = "" if self.cosine is None else f" Mean cosine similarity to the original: **{self.cosine:.4f}**."
        verdict = "registered" if self.acceptable else f"NOT registered: the drop is over {self.max_drop} points"
        lines = [
            f"# {self.target}: {self.kind} from {self.source}",
            "",
            f"{self.method}; {calibrated}{self.images} test items.",
            "",
            f"| | {self.source} | {self.kind} | ratio |",
            "|---|---:|---:|---:|",
            *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows),
            "",
            f"Top-1 agreement: **{self.agreement * 100:.2f} %**.{close} Allowed accuracy drop: {self.max_drop} points: "
            f"**{verdict}**.",
            "",
            "Latency: the median of in-process ONNX Runtime runs on this machine, without decoding.",
        ]
        return "\n".join(lines) + "\n"


REPORT = "compression.md"


def against_original(
    settings: Settings,
    spec: ModelSpec,
    folder: Path,
    staging: Path,
    dataset: Dataset,
    *,
    target: str,
    kind: str,
    method: str,
    max_drop: float,
    device: str = "cpu",
) -> Comparison:
    """A classifier (`spec` in `folder`) against its new version in `staging`, on the dataset's test images: accuracy
    and agreement through the serving backend, size and latency (on `device`) in process."""
    threads = settings.cpu_threads()
    test = dataset.splits["test"]
    original = open_classifier(folder, spec.options, threads=threads)
    changed = open_classifier(staging, spec.options, threads=threads)
    before, after = evaluate(original, dataset.classes, test), evaluate(changed, dataset.classes, test)
    feeds = {"input": pixels(original, test[:16])}
    original.unload()
    changed.unload()
    return Comparison(
        source=spec.key,
        target=f"{spec.id}@{target}",
        method=method,
        kind=kind,
        original=measure(folder / "model.onnx", feeds, before.metrics.accuracy, threads=threads, device=device),
        compressed=measure(staging / "model.onnx", feeds, after.metrics.accuracy, threads=threads, device=device),
        agreement=agreement([p.predicted for p in before.predictions], [p.predicted for p in after.predictions]),
        images=len(test),
        max_drop=max_drop,
        calibration_images=0,
    )


@dataclass(slots=True)
class Compressed:
    """The comparison, and where the compressed model went (`spec` is None when it was refused)."""

    comparison: Comparison
    spec: ModelSpec | None
    report: Path


def register(
    comparison: Comparison,
    spec: ModelSpec,
    folder: Path,
    staging: Path,
    *,
    force: bool,
    outputs: tuple[str, ...],
    description: str,
    extra: dict[str, Any],
) -> Compressed:
    """Write the report into `staging`, then publish it as `spec`'s new version `comparison.target` when its accuracy
    holds (or when forced); otherwise keep only the report, beside the original in `folder`."""
    comparison.write(staging)
    version = comparison.target.rsplit("@", 1)[1]
    if not (comparison.acceptable or force):
        return Compressed(comparison, None, keep_report(staging, folder / f"compression-{version}"))
    made = local_spec(
        spec.id,
        version,
        task=spec.task,
        backend=spec.backend,
        outputs=outputs,
        options=spec.options,
        description=description,
    )
    published = publish(staging, made, extra={**extra, "source": spec.key})
    return Compressed(comparison, made, published / REPORT)


def keep_report(staging: Path, kept: Path) -> Path:
    """Keep a refused model's report in `kept` (beside the original) and drop the rest of `staging`."""
    shutil.rmtree(kept, ignore_errors=True)
    kept.mkdir()
    for report in ("compression.json", REPORT):
        shutil.copy2(staging / report, kept / report)
    shutil.rmtree(staging)
    return kept / REPORT


def _points(drop: float | None) -> str:
    if drop is None:
        return "n/a"
    return "±0.00 points" if abs(drop) < 0.005 else f"{-drop:+.2f} points"


def _ratio(original: float, compressed: float) -> str:
    return f"{original / compressed:.2f}×" if compressed else "n/a"


def agreement(a: Sequence[str], b: Sequence[str]) -> float:
    """Share of positions where the two label lists agree."""
    return sum(x == y for x, y in zip(a, b, strict=True)) / max(len(a), 1)
