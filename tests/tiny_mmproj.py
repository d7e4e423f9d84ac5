"""A tiny LLaVA-style multimodal projector ("mmproj") GGUF with random weights, for tests only.

libmtmd (llama.cpp's multimodal library, `llama_cpp.mtmd_cpp`) loads it next to any text model whose embedding width
is `n_embd`, so tests can drive the image path end to end without downloading a real vision model. The weights are
seeded noise: the encoder runs and its output has the right shape, but what it makes the text model say is meaningless.

The encoder is a CLIP ViT cut to the bone (`clip.projector_type = "mlp"`): a 32×32 input in 8×8 patches, 64 wide,
two blocks (libmtmd's LLaVA graph reads the features of the second-to-last block, so one block runs), then the
two-layer GELU MLP projector to `n_embd`. Every image, whatever its size or aspect, is brought to 32×32 and becomes
`TOKENS_PER_IMAGE` = 16 embeddings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from gguf import GGUFWriter

IMAGE_SIZE = 32
PATCH_SIZE = 8
TOKENS_PER_IMAGE = (IMAGE_SIZE // PATCH_SIZE) ** 2
_WIDTH = 64  # ViT hidden size
_HEADS = 4
_FFN = 128  # must differ from _WIDTH: libmtmd "fixes" legacy up/down naming when ffn_down's input width equals it
_BLOCKS = 2
_PROJ_HIDDEN = 128
_SEED = 0

Array = npt.NDArray[np.float32]


def write_tiny_mmproj(path: Path, n_embd: int) -> None:
    """Write the projector to `path`, projecting into a text model whose embedding width is `n_embd`."""
    rng = np.random.default_rng(_SEED)

    def weight(*shape: int) -> Array:
        # numpy shape (out, in) is ggml's ne = [in, out]; 1/sqrt(fan_in) keeps activations O(1) through the layers
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        data: Array = rng.standard_normal(shape, dtype=np.float32) / np.float32(np.sqrt(fan_in))
        return data

    def zeros(n: int) -> Array:
        return np.zeros(n, dtype=np.float32)

    def ones(n: int) -> Array:
        return np.ones(n, dtype=np.float32)

    n_patches = TOKENS_PER_IMAGE
    writer = GGUFWriter(path, arch="clip")
    writer.add_name("tiny-random-mmproj")
    writer.add_description("random weights for tests; its output means nothing")
    writer.add_file_type(0)  # all F32
    writer.add_bool("clip.has_vision_encoder", True)
    writer.add_string("clip.projector_type", "mlp")
    writer.add_uint32("clip.vision.image_size", IMAGE_SIZE)
    writer.add_uint32("clip.vision.patch_size", PATCH_SIZE)
    writer.add_uint32("clip.vision.embedding_length", _WIDTH)
    writer.add_uint32("clip.vision.feed_forward_length", _FFN)
    writer.add_uint32("clip.vision.block_count", _BLOCKS)
    writer.add_uint32("clip.vision.attention.head_count", _HEADS)
    writer.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-5)
    writer.add_uint32("clip.vision.projection_dim", n_embd)
    writer.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    writer.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])

    tensors: dict[str, Array] = {
        "v.patch_embd.weight": weight(_WIDTH, 3, PATCH_SIZE, PATCH_SIZE),  # conv2d kernel, ne = [p, p, 3, width]
        "v.class_embd": weight(_WIDTH),
        "v.position_embd.weight": weight(n_patches + 1, _WIDTH),  # +1 for the class embedding
        "v.pre_ln.weight": ones(_WIDTH),
        "v.pre_ln.bias": zeros(_WIDTH),
    }
    for i in range(_BLOCKS):
        for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
            tensors[f"v.blk.{i}.{name}.weight"] = weight(_WIDTH, _WIDTH)
            tensors[f"v.blk.{i}.{name}.bias"] = zeros(_WIDTH)
        for name in ("ln1", "ln2"):
            tensors[f"v.blk.{i}.{name}.weight"] = ones(_WIDTH)
            tensors[f"v.blk.{i}.{name}.bias"] = zeros(_WIDTH)
        tensors[f"v.blk.{i}.ffn_up.weight"] = weight(_FFN, _WIDTH)
        tensors[f"v.blk.{i}.ffn_up.bias"] = zeros(_FFN)
        tensors[f"v.blk.{i}.ffn_down.weight"] = weight(_WIDTH, _FFN)
        tensors[f"v.blk.{i}.ffn_down.bias"] = zeros(_WIDTH)
    tensors["mm.0.weight"] = weight(_PROJ_HIDDEN, _WIDTH)
    tensors["mm.0.bias"] = zeros(_PROJ_HIDDEN)
    tensors["mm.2.weight"] = weight(n_embd, _PROJ_HIDDEN)
    tensors["mm.2.bias"] = zeros(n_embd)
    for name, data in tensors.items():
        writer.add_tensor(name, data)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
