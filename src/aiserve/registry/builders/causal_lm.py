"""Turn a GGUF chat model into a Hugging Face folder for the transformers runtime: dequantised once to fp32 and
saved as safetensors, so later loads take seconds instead of a re-conversion."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def build(folder: Path, _options: dict[str, Any]) -> None:
    """Write `config.json`, `generation_config.json`, `model.safetensors` and the tokenizer files beside the
    folder's `model.gguf`."""
    import torch
    import transformers
    from safetensors.torch import save_model

    hf: Any = transformers
    hf.utils.logging.disable_progress_bar()
    tokenizer = hf.AutoTokenizer.from_pretrained(folder, gguf_file="model.gguf")
    model = hf.AutoModelForCausalLM.from_pretrained(folder, gguf_file="model.gguf", dtype=torch.float32)
    # save_pretrained refuses a model loaded from GGUF; the weights, config and tokenizer are all it needs
    save_model(model, str(folder / "model.safetensors"))
    # the saved weights are dense fp32: a config that still names the GGUF would make transformers load the packed
    # GGUF file instead, with a dequantising kernel in every matmul
    model.config.quantization_config = None
    del model.config.quantization_config
    model.config.save_pretrained(folder)
    model.generation_config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
