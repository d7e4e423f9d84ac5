"""`aiserve export MODEL --fp16`: the classifier with its weights and arithmetic in 16-bit floats (inputs and outputs
stay float32), for GPUs: half the file, and on a GPU with fp16 units, faster. Measured against the original on the
same test images, on the GPU when ONNX Runtime sees one here, otherwise on the CPU; the report says which."""

from __future__ import annotations

import shutil

from aiserve.errors import InvalidInput
from aiserve.hardware import runtime_has_cuda
from aiserve.registry.local import staging_dir
from aiserve.settings import Settings
from aiserve.training import splits
from aiserve.training.compress import Compressed, against_original, is_quantized, quiet, register
from aiserve.training.workflow import SERVED, find_model


def half_model(
    settings: Settings, name: str, *, max_drop: float = 1.0, force: bool = False, version: str | None = None
) -> Compressed:
    """fp16 of a classifier trained here, registered as `id@<version>-fp16` when within `max_drop` accuracy points
    of the original on its test images, or when forced."""
    import onnx
    from onnxconverter_common import float16

    spec, folder = find_model(settings, name)
    if is_quantized(folder / "model.onnx"):
        raise InvalidInput(f"{spec.key} is int8; make fp16 from the model it was quantised from.")
    dataset = splits.dataset(folder, spec.key)
    if not dataset.splits["test"]:
        raise InvalidInput(f"{spec.key} was trained without test images (--test 0), so fp16 could not be checked.")
    target = version or f"{spec.version}-fp16"
    staging = staging_dir(settings.models_dir, spec.id, target)
    device = "cuda" if runtime_has_cuda("onnxruntime") else "cpu"
    try:
        with quiet():  # the converter warns about every weight too small for fp16, which become ±1e-7
            half = float16.convert_float_to_float16(onnx.load(str(folder / "model.onnx")), keep_io_types=True)
        onnx.save(half, str(staging / "model.onnx"))
        shutil.copy2(folder / "labels.json", staging / "labels.json")
        shutil.copy2(folder / splits.FILE, staging / splits.FILE)
        method = (
            f"fp16 weights and arithmetic, float32 inputs and outputs; latency measured on the {device.upper()}"
            + ("" if device == "cuda" else " (no GPU here; fp16 is made for GPUs)")
        )
        comparison = against_original(
            settings, spec, folder, staging, dataset, target=target, kind="fp16", method=method, max_drop=max_drop,
            device=device,
        )  # fmt: skip
        return register(
            comparison,
            spec,
            folder,
            staging,
            force=force,
            outputs=SERVED,
            description=f"{spec.key} in fp16, for GPUs.",
            extra={"made_by": "aiserve export --fp16"},
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
