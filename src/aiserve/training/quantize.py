"""`aiserve export MODEL --quantize`, start to finish: make the int8 model beside the fp32 one, measure both on the
same test items, and publish the int8 model only when its accuracy holds (or when forced)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from aiserve.engine.backends.onnx_embedding import OnnxEmbeddingBackend
from aiserve.engine.protocol import EmbeddingOutput
from aiserve.errors import InvalidInput
from aiserve.registry.catalog import catalog
from aiserve.registry.local import staging_dir
from aiserve.registry.spec import ModelSpec
from aiserve.settings import Settings
from aiserve.training import splits
from aiserve.training.compress import (
    Comparison,
    Compressed,
    agreement,
    is_quantized,
    measure,
    quantize_dynamic,
    quantize_static,
    register,
)
from aiserve.training.dataset import load_dataset
from aiserve.training.evaluate import evaluate, open_classifier, pixels
from aiserve.training.texts import PAIRS
from aiserve.training.workflow import find_model


def quantize_model(
    settings: Settings,
    name: str,
    *,
    data: Path | None = None,
    version: str | None = None,
    max_drop: float = 1.0,
    force: bool = False,
    calibration: int = 256,
    seed: int = 0,
) -> Compressed:
    """int8 of a classifier (static, calibrated on its training images or `data`) or of an embedding model
    (dynamic, per-channel), registered as `id@<version>-int8` when within `max_drop` accuracy points, or when
    forced; otherwise the report is kept in the fp32 model's folder."""
    spec, folder = find_model(settings, name, ("onnx-classifier", "onnx-embedding"))
    if is_quantized(folder / "model.onnx"):
        fp32 = [s.key for s in catalog(settings) if s.id == spec.id and s.key != spec.key and "int8" not in s.version]
        hint = f"; quantise {' or '.join(fp32)} instead" if fp32 else ""
        raise InvalidInput(f"{spec.key} is already int8{hint}.")
    target = version or f"{spec.version}-int8"
    staging = staging_dir(settings.models_dir, spec.id, target)
    try:
        key = f"{spec.id}@{target}"
        if spec.backend == "onnx-classifier":
            comparison = _classifier(settings, spec, folder, staging, key, max_drop, data, calibration, seed)
            outputs: tuple[str, ...] = ("model.onnx", "labels.json")
            if (folder / splits.FILE).is_file():  # eval on the int8 model then uses the same test images
                shutil.copy2(folder / splits.FILE, staging / splits.FILE)
        else:
            comparison = _embedder(settings, spec, folder, staging, key, max_drop)
            outputs = ("model.onnx", "tokenizer.json")
        return register(
            comparison,
            spec,
            folder,
            staging,
            force=force,
            outputs=outputs,
            description=f"{spec.key} quantised to int8 ({comparison.method}).",
            extra={"made_by": "aiserve export --quantize"},
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _classifier(
    settings: Settings,
    spec: ModelSpec,
    folder: Path,
    staging: Path,
    target: str,
    max_drop: float,
    data: Path | None,
    calibration: int,
    seed: int,
) -> Comparison:
    if data is not None:
        dataset = load_dataset(data, seed=seed)
        classes, train_samples, test_samples = dataset.classes, dataset.splits["train"], dataset.splits["test"]
    else:
        classes, saved = splits.load(folder, spec.key)
        train_samples, test_samples = saved["train"], saved["test"]
    threads = settings.cpu_threads()
    fp32 = open_classifier(folder, spec.options, threads=threads)
    chosen = random.Random(seed).sample(train_samples, min(calibration, len(train_samples)))
    quantize_static(folder / "model.onnx", staging / "model.onnx", pixels(fp32, chosen))
    shutil.copy2(folder / "labels.json", staging / "labels.json")
    int8 = open_classifier(staging, spec.options, threads=threads)
    before, after = evaluate(fp32, classes, test_samples), evaluate(int8, classes, test_samples)
    feeds = {"input": pixels(fp32, test_samples[:16])}
    return Comparison(
        source=spec.key,
        target=target,
        method="static int8 (QDQ, per-channel weights, min/max calibration)",
        kind="int8",
        original=measure(folder / "model.onnx", feeds, before.metrics.accuracy, threads=threads),
        compressed=measure(staging / "model.onnx", feeds, after.metrics.accuracy, threads=threads),
        agreement=agreement([p.predicted for p in before.predictions], [p.predicted for p in after.predictions]),
        images=len(test_samples),
        max_drop=max_drop,
        calibration_images=len(chosen),
    )


def _embedder(
    settings: Settings, spec: ModelSpec, folder: Path, staging: Path, target: str, max_drop: float
) -> Comparison:
    quantize_dynamic(folder / "model.onnx", staging / "model.onnx")
    shutil.copy2(folder / "tokenizer.json", staging / "tokenizer.json")
    threads = settings.cpu_threads()
    questions, passages = [q for q, _ in PAIRS], [p for _, p in PAIRS]
    vectors = {}
    for variant, where in (("fp32", folder), ("int8", staging)):
        backend = OnnxEmbeddingBackend(where, threads=threads, options={**spec.options, "device": "cpu"})
        backend.load()
        vectors[variant] = np.stack([_vector(out) for out in backend.run_batch([*questions, *passages])])
        encoded = backend.preprocess(passages[:16])
    feeds: dict[str, Any] = {
        "input_ids": encoded.input_ids,
        "attention_mask": encoded.attention_mask,
        "token_type_ids": np.zeros_like(encoded.input_ids),
    }
    n = len(PAIRS)
    nearest = {k: (v[:n] @ v[n:].T).argmax(axis=1) for k, v in vectors.items()}
    accuracy = {k: float((picks == np.arange(n)).mean()) for k, picks in nearest.items()}
    cosine = float((vectors["fp32"] * vectors["int8"]).sum(axis=1).mean())
    return Comparison(
        source=spec.key,
        target=target,
        method="dynamic int8 (per-channel weights, activations quantised at run time); accuracy: question→passage "
        f"retrieval over {n} pairs",
        kind="int8",
        original=measure(folder / "model.onnx", feeds, accuracy["fp32"], threads=threads),
        compressed=measure(staging / "model.onnx", feeds, accuracy["int8"], threads=threads),
        agreement=float((nearest["fp32"] == nearest["int8"]).mean()),
        images=n,
        max_drop=max_drop,
        calibration_images=0,
        cosine=round(cosine, 6),
    )


def _vector(out: object) -> np.ndarray[Any, np.dtype[np.float32]]:
    if not isinstance(out, EmbeddingOutput):
        raise ValueError(f"embedding failed: {out}")
    return out.vector
