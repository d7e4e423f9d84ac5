"""What this machine offers for inference: CPU features, memory, GPUs, runtimes and execution providers."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# cpuinfo flag -> what it means for inference
CPU_FEATURES = {
    "avx2": "AVX2",
    "fma": "FMA",
    "avx512f": "AVX-512",
    "avx512_vnni": "AVX-512 VNNI (fast int8)",
    "avx_vnni": "AVX-VNNI (fast int8)",
    "avx512_bf16": "AVX-512 BF16",
    "amx_tile": "AMX",
    "amx_int8": "AMX int8",
    "amx_bf16": "AMX bf16",
    "asimd": "NEON (Arm SIMD)",
    "asimddp": "Arm dot product (fast int8)",
}


@dataclass
class Hardware:
    """A report of the machine."""

    cpu_model: str
    architecture: str
    logical_cores: int
    physical_cores: int | None
    cpu_features: list[str]
    memory_total_gib: float | None
    memory_available_gib: float | None
    gpus: list[dict[str, str]]
    onnxruntime_providers: list[str]
    runtimes: dict[str, str]
    torch_cuda: bool | None
    recommendations: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """As JSON-ready data."""
        return asdict(self)


def _cpuinfo() -> dict[str, str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    info: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    return info


def _physical_cores() -> int | None:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    cores = set()
    physical = core = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "physical id":
            physical = value.strip()
        elif key.strip() == "core id":
            core = value.strip()
            cores.add((physical, core))
    return len(cores) or None


def _meminfo() -> tuple[float | None, float | None]:
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
    except OSError:
        return None, None

    def gib(key: str) -> float | None:
        raw = fields.get(key, "").strip().split()
        return round(int(raw[0]) / 1024**2, 1) if raw else None

    return gib("MemTotal"), gib("MemAvailable")


def _gpus() -> list[dict[str, str]]:
    if shutil.which("nvidia-smi") is None:
        return []
    query = "--query-gpu=name,memory.total,driver_version"
    try:
        out = subprocess.run(["nvidia-smi", query, "--format=csv,noheader"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    gpus = []
    for line in out.stdout.strip().splitlines():
        name, memory, driver = ([*line.split(","), "", ""])[:3]
        gpus.append({"name": name.strip(), "memory": memory.strip(), "driver": driver.strip()})
    return gpus


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def onnxruntime_providers() -> list[str]:
    """Execution providers of the installed onnxruntime, best first."""
    if importlib.util.find_spec("onnxruntime") is None:
        return []
    import onnxruntime

    providers: list[str] = onnxruntime.get_available_providers()
    return providers


def _torch_cuda() -> bool | None:
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    return bool(torch.cuda.is_available())


def probe(*, check_torch: bool = True) -> Hardware:
    """Look at the machine. `check_torch` imports torch (a second or two) to ask it about CUDA."""
    cpu = _cpuinfo()
    flags = set((cpu.get("flags") or cpu.get("Features") or "").split())
    total, available = _meminfo()
    runtimes = {
        name: version
        for name in ("onnxruntime", "onnxruntime-gpu", "torch", "tokenizers", "llama-cpp-python", "transformers")
        if (version := _version(name))
    }
    report = Hardware(
        cpu_model=cpu.get("model name") or platform.processor() or platform.machine(),
        architecture=platform.machine(),
        logical_cores=os.cpu_count() or 1,
        physical_cores=_physical_cores(),
        cpu_features=[label for flag, label in CPU_FEATURES.items() if flag in flags],
        memory_total_gib=total,
        memory_available_gib=available,
        gpus=_gpus(),
        onnxruntime_providers=onnxruntime_providers(),
        runtimes=runtimes,
        torch_cuda=_torch_cuda() if check_torch else None,
    )
    report.recommendations = recommend(report)
    return report


def recommend(hw: Hardware) -> list[str]:
    """Advice that follows from the report."""
    advice = []
    cuda = "CUDAExecutionProvider" in hw.onnxruntime_providers
    if hw.gpus and not cuda:
        advice.append("A GPU is present but onnxruntime has no CUDA provider: pip install onnxruntime-gpu.")
    if cuda:
        advice.append("CUDA is available: device 'auto' runs ONNX models on the GPU.")
    else:
        advice.append("No CUDA: models run on the CPU (device 'auto' picks it).")
    threads = hw.physical_cores or hw.logical_cores
    advice.append(f"Inference threads: {threads} (one per physical core) is a good start (AISERVE_ENGINE__THREADS).")
    if any("int8" in f for f in hw.cpu_features):
        advice.append("The CPU has int8 dot-product instructions: int8 models (the default embedding model) run fast.")
    elif "AVX2" not in hw.cpu_features and hw.architecture in ("x86_64", "AMD64"):
        advice.append("No AVX2: expect slow CPU inference; prefer the smallest models.")
    if hw.memory_available_gib is not None and hw.memory_available_gib < 2:
        advice.append("Under 2 GiB of memory free: serve one model at a time.")
    return advice


def resolve_device(requested: str, runtime: str = "onnxruntime") -> str:
    """`cuda` or `cpu` for a model on `runtime`: `auto` picks CUDA when that runtime can use it. Asking for `cuda`
    where it is missing is an error."""
    cuda = runtime_has_cuda(runtime)
    if requested == "cuda" and not cuda:
        raise RuntimeError(f"device 'cuda' was asked for, but {runtime} cannot use a CUDA GPU here")
    if requested == "auto":
        return "cuda" if cuda else "cpu"
    return requested


def runtime_has_cuda(runtime: str) -> bool:
    """Whether `runtime` (`onnxruntime`, `transformers` or `llama.cpp`) can run on a CUDA GPU here."""
    try:
        if runtime == "transformers":
            import torch

            return bool(torch.cuda.is_available())
        if runtime == "llama.cpp":
            import llama_cpp

            return bool(llama_cpp.llama_supports_gpu_offload())
    except ImportError:
        return False
    return "CUDAExecutionProvider" in onnxruntime_providers()
