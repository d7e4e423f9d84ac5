"""Backends by name. Import strings keep heavy runtimes out of import time until a model needs them."""

from __future__ import annotations

import importlib
from typing import Any

from aiserve.engine.backends.base import ModelBackend
from aiserve.engine.backends.generative import GenerationBackend

BACKENDS: dict[str, str] = {
    "onnx-embedding": "aiserve.engine.backends.onnx_embedding:OnnxEmbeddingBackend",
    "onnx-classifier": "aiserve.engine.backends.onnx_classifier:OnnxClassifierBackend",
    "dummy": "aiserve.engine.backends.dummy:DummyBackend",
    "llama-cpp": "aiserve.engine.backends.llama_cpp:LlamaCppBackend",
    "transformers": "aiserve.engine.backends.transformers_lm:TransformersBackend",
    "onnx-cross-encoder": "aiserve.engine.backends.onnx_rerank:OnnxCrossEncoderBackend",
    "onnx-late-interaction": "aiserve.engine.backends.onnx_rerank:OnnxLateInteractionBackend",
}

AnyBackend = ModelBackend[Any, Any, Any, Any] | GenerationBackend


def resolve_backend(name: str) -> type[AnyBackend]:
    """The backend class registered under `name`."""
    try:
        target = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; known: {', '.join(sorted(BACKENDS))}") from None
    module_name, _, attr = target.partition(":")
    cls: type[AnyBackend] = getattr(importlib.import_module(module_name), attr)
    return cls
