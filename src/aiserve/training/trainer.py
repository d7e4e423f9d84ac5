"""The training loop: the serving preprocessing with augmentation, AdamW with a cosine schedule, validation each
epoch, early stopping on validation accuracy, checkpoints, and the best weights restored at the end."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset as TorchDataset

from aiserve.training import nets
from aiserve.training.dataset import Dataset, Sample
from aiserve.training.distill import DistillConfig, SoftTargets
from aiserve.vision.augment import Augment
from aiserve.vision.decode import open_image, to_rgb
from aiserve.vision.preprocess import Transform

MAX_PIXELS = 40_000_000


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """How to train. `lr` of 0 picks a sensible rate for the architecture and freezing."""

    arch: str = "efficientnet-lite0"
    epochs: int = 20
    batch_size: int = 32
    lr: float = 0.0
    weight_decay: float = 1e-4
    freeze: bool = True
    """EfficientNet only: train the new head alone (fast on a CPU) or the whole network."""
    patience: int = 5
    """Stop after this many epochs without a better validation accuracy (0: never stop early)."""
    seed: int = 0
    device: str = "auto"
    augment: bool = True
    flip: bool = False
    image_size: int = 0
    """0: the architecture's own."""
    workers: int = 0
    """Data-loader processes decoding images beside the training loop; worth it for large JPEGs and many cores."""
    distill: DistillConfig | None = None
    """Learn from a teacher's softened outputs as well as from the labels."""

    def learning_rate(self) -> float:
        """The rate used."""
        if self.lr > 0:
            return self.lr
        if self.arch == "small-cnn":
            return 3e-3
        return 1e-3 if self.freeze else 3e-4

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the rate actually used."""
        return {**asdict(self), "lr": self.learning_rate()}


@dataclass(frozen=True, slots=True)
class EpochRecord:
    """One epoch's results."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    lr: float
    seconds: float
    best: bool


@dataclass(slots=True)
class TrainResult:
    """The trained network (best weights), its preprocessing and what happened."""

    model: nn.Module
    transform: Transform
    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    device: str = "cpu"


StepHook = Callable[[int, int, int, float], None]
"""Called as `on_step(epoch, batches_done, batches_total, running_loss)`."""
EpochHook = Callable[[EpochRecord], None]


class ImageSamples(TorchDataset[tuple[torch.Tensor, int, int]]):
    """Samples decoded and preprocessed exactly as the server does; augmented boxes and flips when training. Each
    item is `(pixels, class number, position in the split)`, the position being where its soft targets are."""

    def __init__(
        self,
        samples: Sequence[Sample],
        classes: Sequence[str],
        transform: Transform,
        augment: Augment | None,
        seed: int,
    ) -> None:
        self.samples = list(samples)
        self.index = {label: i for i, label in enumerate(classes)}
        self.transform, self.augment, self.seed = transform, augment, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        sample = self.samples[i]
        image = to_rgb(open_image(sample.path.read_bytes(), max_pixels=MAX_PIXELS), draft_size=self.transform.resize)
        if self.augment is None:
            pixels = self.transform(image)
        else:
            rng = random.Random(f"{self.seed}:{self.epoch}:{i}")  # repeatable whatever the loader's order
            box = self.augment.box(self.transform, *image.size, rng)
            pixels = self.transform(image, box, flip=self.augment.flips(rng))
        return torch.from_numpy(pixels), self.index[sample.label], i


class EarlyStopping:
    """Better means a higher accuracy, or the same accuracy with a loss lower by more than `min_delta`; after
    `patience` epochs without a better one, stop (a patience of 0 never stops)."""

    def __init__(self, patience: int, min_delta: float = 1e-4) -> None:
        self.patience, self.min_delta = patience, min_delta
        self.best: tuple[float, float] = (-math.inf, math.inf)
        self.since_best = 0

    def update(self, accuracy: float, loss: float) -> bool:
        """Record an epoch; whether it is the best so far."""
        best_accuracy, best_loss = self.best
        better = accuracy > best_accuracy or (accuracy == best_accuracy and loss < best_loss - self.min_delta)
        if better:
            self.best, self.since_best = (accuracy, loss), 0
        else:
            self.since_best += 1
        return better

    @property
    def should_stop(self) -> bool:
        """Whether patience has run out."""
        return bool(self.patience) and self.since_best >= self.patience


def resolve_device(name: str) -> torch.device:
    """`auto`: CUDA when present, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for, but PyTorch sees no CUDA device here.")
    return torch.device(name)


def train(
    dataset: Dataset,
    config: TrainConfig,
    checkpoints: Path,
    *,
    on_step: StepHook | None = None,
    on_epoch: EpochHook | None = None,
    soft: SoftTargets | None = None,
    model: nn.Module | None = None,
) -> TrainResult:
    """Train on `dataset.splits["train"]`, validating on `"val"`; checkpoints `last.pt` and `best.pt` go to
    `checkpoints`. With `soft` (a teacher's logits for each training image), the training loss is the distillation
    loss; validation stays on the labels alone. With `model`, training goes on from that network (a pruned one, to
    fine-tune it) instead of a fresh one."""
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    spec = nets.arch(config.arch)
    size = config.image_size or spec.image_size
    # the architecture's crop ratio at any size: 224 of 256 for EfficientNet, the whole image for the small CNN
    transform = Transform(size=size, resize=round(size * spec.resize / spec.image_size), normalize=spec.normalize)
    model = (model or nets.build(config.arch, len(dataset.classes))).to(device)
    frozen = config.freeze and config.arch != "small-cnn"
    params = nets.freeze_backbone(model) if frozen else [p for p in model.parameters() if p.requires_grad]
    augment = Augment(flip=config.flip) if config.augment else None
    train_set = ImageSamples(dataset.splits["train"], dataset.classes, transform, augment, config.seed)
    val_set = ImageSamples(dataset.splits["val"], dataset.classes, transform, None, config.seed)
    if soft is not None and len(soft.logits) != len(train_set):
        raise ValueError(f"{len(soft.logits)} rows of soft targets for {len(train_set)} training images.")
    loader = DataLoader(
        train_set,
        batch_size=config.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(config.seed),
        drop_last=len(train_set) > config.batch_size,  # a last batch of 1 upsets batch norm
        num_workers=config.workers,
    )
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate(), weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(config.epochs, 1))
    loss_fn = nn.CrossEntropyLoss()
    result = TrainResult(model=model, transform=transform, device=str(device))
    checkpoints.mkdir(parents=True, exist_ok=True)
    stopper = EarlyStopping(config.patience)
    best_state: dict[str, torch.Tensor] = {}
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        train_set.epoch = epoch
        nets.train_mode(model, frozen=frozen)
        total_loss, correct, seen = 0.0, 0, 0
        for step, (x, y, i) in enumerate(loader, start=1):
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad(set_to_none=True)
            logits = model(x)
            loss = loss_fn(logits, y) if soft is None else soft.loss(logits, y, i)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
            if on_step is not None:
                on_step(epoch, step, len(loader), total_loss / seen)
        lr = float(schedule.get_last_lr()[0])
        schedule.step()
        val_loss, val_acc = _validate(model, val_set, loss_fn, device, config.batch_size)
        if len(val_set):
            improved = stopper.update(val_acc, val_loss)
        else:  # nothing held out: the training figures are all there is
            improved = stopper.update(correct / max(seen, 1), total_loss / max(seen, 1))
        if improved:
            result.best_epoch = epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        record = EpochRecord(
            epoch=epoch,
            train_loss=total_loss / max(seen, 1),
            train_accuracy=correct / max(seen, 1),
            val_loss=val_loss,
            val_accuracy=val_acc,
            lr=lr,
            seconds=time.perf_counter() - started,
            best=improved,
        )
        result.history.append(record)
        _checkpoint(checkpoints, model, optimizer, config, dataset.classes, record, best=improved)
        if on_epoch is not None:
            on_epoch(record)
        if stopper.should_stop and epoch < config.epochs:
            result.stopped_early = True
            break
    if best_state:
        model.load_state_dict(best_state)
    model.eval()
    return result


def _validate(
    model: nn.Module, samples: ImageSamples, loss_fn: nn.Module, device: torch.device, batch_size: int
) -> tuple[float, float]:
    """Mean loss and accuracy on the validation split (`nan`, 0 when it is empty)."""
    if not len(samples):
        return math.nan, 0.0
    model.eval()
    total, correct = 0.0, 0
    with torch.no_grad():
        for x, y, _ in DataLoader(samples, batch_size=batch_size):
            x, y = x.to(device), y.to(device)
            logits = model(x)
            total += float(loss_fn(logits, y)) * len(y)
            correct += int((logits.argmax(1) == y).sum())
    return total / len(samples), correct / len(samples)


def _checkpoint(
    folder: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    classes: list[str],
    record: EpochRecord,
    *,
    best: bool,
) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "config": config.to_dict(),
        "classes": classes,
        "epoch": asdict(record),
    }
    torch.save(state, folder / "last.pt")
    if best:
        torch.save({k: v for k, v in state.items() if k != "optimizer"}, folder / "best.pt")
