"""The hardware report and device choice."""

from __future__ import annotations

import pytest

from aiserve import hardware
from aiserve.hardware import Hardware, recommend, resolve_device

pytestmark = pytest.mark.unit


def report(**overrides: object) -> Hardware:
    base: dict[str, object] = {
        "cpu_model": "Test CPU", "architecture": "x86_64", "logical_cores": 8, "physical_cores": 4,
        "cpu_features": ["AVX2", "AVX-512 VNNI (fast int8)"], "memory_total_gib": 32.0, "memory_available_gib": 16.0,
        "gpus": [], "onnxruntime_providers": ["CPUExecutionProvider"], "runtimes": {}, "torch_cuda": None,
    }  # fmt: skip
    base.update(overrides)
    return Hardware(**base)  # type: ignore[arg-type]


def test_recommendations_follow_the_report() -> None:
    advice = " ".join(recommend(report()))
    assert "No CUDA" in advice
    assert "Inference threads: 4" in advice
    assert "int8" in advice
    gpu = " ".join(recommend(report(gpus=[{"name": "H100", "memory": "80 GiB", "driver": "1"}])))
    assert "pip install onnxruntime-gpu" in gpu
    cuda = " ".join(recommend(report(onnxruntime_providers=["CUDAExecutionProvider", "CPUExecutionProvider"])))
    assert "runs ONNX models on the GPU" in cuda
    assert "2 GiB" in " ".join(recommend(report(memory_available_gib=1.0)))


def test_device_auto_follows_the_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hardware, "onnxruntime_providers", lambda: ["CPUExecutionProvider"])
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(RuntimeError, match="onnxruntime cannot use a CUDA GPU"):
        resolve_device("cuda")
    monkeypatch.setattr(hardware, "onnxruntime_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cpu") == "cpu"


def test_probe_reads_this_machine() -> None:
    found = hardware.probe(check_torch=False)
    assert found.logical_cores >= 1
    assert found.cpu_model
    assert "CPUExecutionProvider" in found.onnxruntime_providers
    assert "onnxruntime" in found.runtimes
    assert found.recommendations


def test_device_follows_each_runtime() -> None:
    """Torch judges CUDA for transformers models, whatever onnxruntime has (this machine's torch is a CPU build)."""
    import torch

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto", "transformers") == expected
    if expected == "cpu":
        with pytest.raises(RuntimeError, match="transformers cannot use a CUDA GPU"):
            resolve_device("cuda", "transformers")
