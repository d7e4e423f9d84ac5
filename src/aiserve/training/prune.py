"""`aiserve export MODEL --prune RATIO [--structured]`: take away a share of a trained classifier's weights, fine-tune
what is left on its own training images, and publish it only when its accuracy holds (the same guard and report as
int8).

- **Structured** (`--structured`): whole channels go, the ones with the smallest weights in each layer, together with
  every weight that reads or writes them (torch-pruning follows the residual and depthwise links), so the network is
  really smaller and faster. Version `<version>-pruned<NN>`.
- **Unstructured**: the smallest weights of each convolution and linear layer become zero, and stay zero while
  fine-tuning. The file keeps its shape, so it is no faster on a dense runtime; what it shows is how many weights the
  network does without. Version `<version>-sparse<NN>`.

The classifier head is never pruned: its outputs are the classes."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from aiserve.errors import InvalidInput
from aiserve.registry.local import staging_dir
from aiserve.registry.spec import ModelSpec
from aiserve.settings import Settings
from aiserve.training import nets, splits
from aiserve.training.compress import Compressed, against_original, is_quantized, register
from aiserve.training.dataset import Dataset
from aiserve.training.distill import DistillConfig, SoftTargets, check_labels, teacher_logits
from aiserve.training.evaluate import open_classifier
from aiserve.training.trainer import EpochHook, TrainConfig, train
from aiserve.training.workflow import SERVED, find_model, optimise_export

CHECKPOINT = "checkpoints/best.pt"
FINE_TUNE_LR = 1e-3
"""The whole network learns again, more gently than a new head from scratch."""
FINE_TUNE_BATCH = 16
"""At most: a short fine-tune on a few images needs its steps (on 60 faces, batches of 32 left 2 to 3 points that
batches of 16 recovered)."""
SELF_DISTILL = DistillConfig("the unpruned model")
"""`aiserve train --distill-from`'s defaults (T = 4, weight 0.7)."""


def prune_model(
    settings: Settings,
    name: str,
    ratio: float,
    *,
    structured: bool = False,
    epochs: int = 10,
    max_drop: float = 1.0,
    force: bool = False,
    version: str | None = None,
    on_epoch: EpochHook | None = None,
) -> Compressed:
    """Prune `ratio` of a trained classifier's channels (`structured`) or weights, fine-tune for `epochs` on its
    training images, and compare with the original on its test images; registered as `id@<version>-pruned<NN>` (or
    `-sparse<NN>`) when within `max_drop` accuracy points, or when forced."""
    spec, folder, dataset, saved = _source(settings, name, ratio, epochs)
    trained = TrainConfig(**{**saved["config"], "distill": None})
    model = nets.build(trained.arch, len(dataset.classes), pretrained=False)
    model.load_state_dict(saved["model"])
    size = int(spec.options.get("image_size") or nets.arch(trained.arch).image_size)
    suffix = f"{'pruned' if structured else 'sparse'}{round(ratio * 100)}"
    target = version or f"{spec.version}-{suffix}"
    staging = staging_dir(settings.models_dir, spec.id, target)
    try:
        work = nets.flops(model, size)
        if structured:
            prune_channels(model, ratio, size)
        else:
            masked = zero_weights(model, ratio)
        restart_batch_norm(model)
        config = TrainConfig(
            arch=trained.arch,
            epochs=epochs,
            batch_size=min(trained.batch_size, FINE_TUNE_BATCH),
            freeze=False,  # the backbone changed, so all of it learns again
            lr=FINE_TUNE_LR,
            patience=0,
            seed=trained.seed,
            device=trained.device,
            augment=trained.augment,
            flip=trained.flip,
            image_size=trained.image_size,
        )
        result = train(
            dataset,
            config,
            staging / "checkpoints",
            on_epoch=on_epoch,
            model=model,
            soft=_own_outputs(settings, spec, folder, dataset),
        )
        if not structured:
            for module, _ in masked:
                torch_prune.remove(module, "weight")  # type: ignore[no-untyped-call]
        shutil.rmtree(staging / "checkpoints", ignore_errors=True)  # a pruned network no longer fits nets.build
        nets.export_onnx(result.model.cpu(), staging / "model.onnx", size)
        shutil.copy2(folder / "labels.json", staging / "labels.json")
        shutil.copy2(folder / splits.FILE, staging / splits.FILE)
        graph = optimise_export(settings, staging, spec.options, dataset.splits["train"])
        method = _method(structured, ratio, epochs, result.model, (work, nets.flops(result.model, size)))
        method += f"; graph {graph.kept} ({graph.nodes[1 if graph.kept == 'optimised' else 0]} nodes)"
        comparison = against_original(
            settings, spec, folder, staging, dataset, target=target, kind=suffix, method=method, max_drop=max_drop
        )
        return register(
            comparison,
            spec,
            folder,
            staging,
            force=force,
            outputs=SERVED,
            description=f"{spec.key} with {ratio:.0%} of its {'channels' if structured else 'weights'} pruned.",
            extra={"made_by": "aiserve export --prune", "pruned": suffix},
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _source(settings: Settings, name: str, ratio: float, epochs: int) -> tuple[ModelSpec, Path, Dataset, Any]:
    """The model to prune, its folder, its dataset and its checkpoint; refused in one line when it cannot be."""
    if not 0 < ratio < 1:
        raise InvalidInput(f"--prune must be between 0 and 1 (a share of the weights), not {ratio}.")
    if epochs < 1:
        raise InvalidInput("--fine-tune-epochs must be at least 1: a pruned network measures its statistics again.")
    spec, folder = find_model(settings, name)
    if is_quantized(folder / "model.onnx"):
        raise InvalidInput(f"{spec.key} is int8; prune the model it was quantised from, then quantise the result.")
    if not (folder / CHECKPOINT).is_file():
        raise InvalidInput(
            f"{spec.key} has no training checkpoint ({CHECKPOINT}); pruning fine-tunes the network, so it needs a "
            "model made here with aiserve train."
        )
    dataset = splits.dataset(folder, spec.key)
    if not dataset.splits["test"]:
        raise InvalidInput(
            f"{spec.key} was trained without test images (--test 0), so a pruned version could not be checked "
            "against it; train it again with a test share."
        )
    return spec, folder, dataset, torch.load(folder / CHECKPOINT, map_location="cpu", weights_only=True)


def prune_channels(model: nn.Module, ratio: float, size: int) -> None:
    """Remove `ratio` of every layer's channels, those with the smallest L2 norm, and all that depends on them."""
    import torch_pruning as tp

    model.eval()
    pruner = tp.pruner.MagnitudePruner(
        model,
        torch.zeros(1, 3, size, size),
        tp.importance.MagnitudeImportance(p=2),
        pruning_ratio=ratio,
        ignored_layers=[nets.head(model)],
    )
    pruner.step()


def zero_weights(model: nn.Module, ratio: float) -> list[tuple[nn.Module, str]]:
    """Mask the smallest `ratio` of each convolution's and linear layer's weights (the head aside); the masks stay
    applied while training, until `torch_prune.remove`."""
    layers = [(module, "weight") for module in _prunable(model)]
    for module, weight in layers:
        torch_prune.l1_unstructured(module, weight, amount=ratio)  # type: ignore[no-untyped-call]
    return layers


def _own_outputs(settings: Settings, spec: ModelSpec, folder: Path, dataset: Dataset) -> SoftTargets:
    """The unpruned model's logits on the training images: fine-tuning learns from them as well as from the labels
    (distillation from its own whole self), which recovers more from a few images than the labels alone."""
    backend = open_classifier(folder, spec.options, threads=settings.cpu_threads())
    columns = check_labels(spec.key, backend.labels, dataset.classes, spec.key)
    logits = teacher_logits(backend, dataset.splits["train"], columns)
    backend.unload()
    return SoftTargets(torch.from_numpy(logits), SELF_DISTILL.temperature, SELF_DISTILL.weight)


def restart_batch_norm(model: nn.Module) -> None:
    """Forget the batch-norm statistics and let fine-tuning measure them again, as a plain average over its batches.
    The pruned layers' inputs are not what the old statistics describe, and at the networks' usual momentum (0.01
    in EfficientNet) a short fine-tune would hardly move them: trained to 0.1 loss, the network still answered at
    chance until its statistics were measured afresh."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None


def _prunable(model: nn.Module) -> Iterator[nn.Module]:
    head = set(nets.head(model).modules())
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear) and module not in head:
            yield module


def zeros(model: nn.Module) -> float:
    """Share of the prunable layers' weights that are exactly zero."""
    weights = [cast(torch.Tensor, module.weight).detach() for module in _prunable(model)]
    return sum(int((w == 0).sum()) for w in weights) / max(sum(w.numel() for w in weights), 1)


def parameters(model: nn.Module) -> int:
    """How many weights the network holds."""
    return sum(p.numel() for p in model.parameters())


def _method(structured: bool, ratio: float, epochs: int, model: nn.Module, work: tuple[int, int]) -> str:
    before, after = work
    what = (
        f"structured: {ratio:.0%} of each layer's channels removed ({parameters(model):,} weights left; "
        f"{after / 1e6:,.0f} MFLOPs per image, from {before / 1e6:,.0f})"
        if structured
        else f"unstructured: {zeros(model):.0%} of the prunable weights zeroed (by magnitude, per layer)"
    )
    return (
        f"{what}, then fine-tuned for {epochs} epoch{'s' if epochs != 1 else ''} on the training images, learning "
        "from the unpruned model's outputs as well as the labels"
    )
