"""`aiserve train`: an image classifier from a folder of labelled images, as a new servable model version."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from aiserve.cli.options import ConfigOpt, DataDirOpt, DeviceOpt, settings_from
from aiserve.errors import AiserveError

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiserve.training.dataset import Summary
    from aiserve.training.distill import DistillConfig
    from aiserve.training.trainer import EpochRecord

TRAIN_HINT = "pip install torch==2.13.0 && pip install 'aiserve[train]' (or run `make install`)"


@contextmanager
def needs_training_extra() -> Iterator[None]:
    """Turn a missing training dependency into one line that says what to install."""
    try:
        yield
    except ImportError as exc:
        raise AiserveError(f"This command needs '{exc.name}'. Install it: {TRAIN_HINT}") from None


def train(
    data: Annotated[
        Path,
        typer.Argument(
            help="A folder with one subfolder per class, train/ val/ test/ folders, or a CSV of path,label.",
            show_default=False,
        ),
    ],
    name: Annotated[str, typer.Option("--name", "-n", help="The model id; each run adds a version.")],
    arch: Annotated[
        str, typer.Option(help="efficientnet-lite0 (pretrained, new head) or small-cnn (from scratch).")
    ] = ("efficientnet-lite0"),
    epochs: Annotated[int, typer.Option(min=1, help="At most this many passes over the training images.")] = 20,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    lr: Annotated[float, typer.Option(min=0, help="Learning rate (0: chosen for the architecture).")] = 0.0,
    freeze: Annotated[
        bool, typer.Option("--freeze/--train-all", help="EfficientNet: train the head only, or all.")
    ] = True,
    patience: Annotated[int, typer.Option(min=0, help="Stop after this many epochs without progress (0: never).")] = 5,
    seed: Annotated[int, typer.Option(help="The same seed gives the same split and the same model.")] = 0,
    val: Annotated[float, typer.Option(help="Share of each class held out for validation.")] = 0.15,
    test: Annotated[float, typer.Option(help="Share of each class held out for the test.")] = 0.15,
    image_size: Annotated[int, typer.Option(min=0, help="Input size in pixels (0: the architecture's own).")] = 0,
    augment: Annotated[bool, typer.Option(help="Random crops of the serving crop while training.")] = True,
    flip: Annotated[bool, typer.Option(help="Also mirror images (not for digits or text).")] = False,
    device: DeviceOpt = "auto",
    workers: Annotated[int, typer.Option(min=0, help="Processes decoding images while training (0: none).")] = 0,
    version: Annotated[str | None, typer.Option(help="The version (default: the next number).")] = None,
    distill_from: Annotated[
        str | None,
        typer.Option(
            help="A classifier in the catalogue with the dataset's classes (e.g. NAME@1): learn from its softened "
            "outputs as well as the labels.",
            show_default=False,
        ),
    ] = None,
    temperature: Annotated[
        float | None,
        typer.Option(
            min=0.1, max=100.0, help="Distillation: the softmax temperature [default: 4].", show_default=False
        ),
    ] = None,
    distill_weight: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=1.0, help="Distillation: the teacher loss's share, 0 to 1 [default: 0.7].", show_default=False
        ),
    ] = None,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Train a classifier and save it as NAME@VERSION under the data directory: ONNX model, labels, checkpoints,
    training curves and the split. Serve it with `aiserve models load NAME@VERSION`."""
    if distill_from is None:
        for flag, given in (("--temperature", temperature), ("--distill-weight", distill_weight)):
            if given is not None:
                raise typer.BadParameter("it needs --distill-from TEACHER.", param_hint=flag)
    with needs_training_extra():
        from aiserve.training.dataset import load_dataset
        from aiserve.training.distill import DistillConfig
        from aiserve.training.nets import arch as check_arch
        from aiserve.training.trainer import TrainConfig
        from aiserve.training.workflow import train_model

    settings = settings_from(config, data_dir=data_dir)
    check_arch(arch)
    console = Console()
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("checking images", total=None)
        dataset = load_dataset(
            data,
            val=val,
            test=test,
            seed=seed,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    show_summary(console, dataset.summary)
    cfg = TrainConfig(
        arch=arch,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        freeze=freeze,
        patience=patience,
        seed=seed,
        device=device,
        augment=augment,
        flip=flip,
        workers=workers,
        image_size=image_size,
        distill=_distill(DistillConfig, distill_from, temperature, distill_weight),
    )
    with _EpochBar(console, epochs) as bar:
        trained = train_model(
            settings,
            dataset,
            name,
            cfg,
            version=version,
            on_step=bar.step,
            on_epoch=bar.epoch,
            on_teacher=bar.teacher(distill_from),
        )
    result = trained.result
    best = result.history[result.best_epoch - 1]
    stop = f", stopped early after epoch {len(result.history)}" if result.stopped_early else ""
    console.print(
        f"best epoch {best.epoch}: validation accuracy {best.val_accuracy:.2%}{stop} (device {result.device})"
    )
    if trained.test is not None:
        console.print(f"test accuracy {trained.test.metrics.accuracy:.2%} on {trained.test.metrics.total} images")
    console.print(f"saved [bold]{trained.spec.key}[/] in {trained.folder}")
    console.print(
        f"next: aiserve eval {trained.spec.key}   ·   aiserve export {trained.spec.key} --quantize   ·   "
        f"aiserve models load {trained.spec.key}"
    )


def _distill(
    make: type[DistillConfig], teacher: str | None, temperature: float | None, weight: float | None
) -> DistillConfig | None:
    """The distillation settings given, the others left at `DistillConfig`'s defaults."""
    if teacher is None:
        return None
    given = {"temperature": temperature, "weight": weight}
    return make(teacher, **{k: v for k, v in given.items() if v is not None})


def show_summary(console: Console, summary: Summary) -> None:
    """Class counts per split, image sizes and modes, and a warning per skipped file."""
    table = Table(title=f"dataset {summary.source}")
    table.add_column("class")
    for split in ("train", "val", "test"):
        table.add_column(split, justify="right")
    for label in summary.classes:
        table.add_row(label, *(str(summary.counts[s].get(label, 0)) for s in ("train", "val", "test")))
    table.add_row("[bold]total", *(f"[bold]{sum(summary.counts[s].values())}" for s in ("train", "val", "test")))
    console.print(table)
    sizes = ", ".join(f"{size} ×{n}" for size, n in list(summary.sizes.items())[:4])
    more = f" and {len(summary.sizes) - 4} more sizes" if len(summary.sizes) > 4 else ""
    console.print(f"image sizes: {sizes}{more}; modes: {', '.join(f'{m} ×{n}' for m, n in summary.modes.items())}")
    for path, reason in summary.skipped:
        console.print(f"[yellow]warning:[/] skipped {path}: {reason}")


class _EpochBar:
    """One bar per epoch: batches done, running loss; the epoch's validation accuracy when it ends."""

    def __init__(self, console: Console, epochs: int) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  val acc {task.fields[val]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.task = TaskID(-1)
        self.current, self.epochs = 0, epochs

    def __enter__(self) -> _EpochBar:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def step(self, epoch: int, done: int, total: int, loss: float) -> None:
        if epoch != self.current:
            self.current = epoch
            self.task = self.progress.add_task(f"epoch {epoch}/{self.epochs}", total=total, loss="…", val="…")
        self.progress.update(self.task, completed=done, loss=f"{loss:.4f}")

    def teacher(self, name: str | None) -> Callable[[int, int], None] | None:
        """A bar for the teacher's one pass over the training images (None without a teacher)."""
        if name is None:
            return None
        task = self.progress.add_task(f"teacher {name}", total=None, loss="–", val="–")

        def advance(done: int, total: int) -> None:
            self.progress.update(task, completed=done, total=total)

        return advance

    def epoch(self, record: EpochRecord) -> None:
        mark = " ★" if record.best else ""
        self.progress.update(self.task, val=f"{record.val_accuracy:.2%}{mark}")
