"""Progress bars for model preparation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn

from aiserve.registry.catalog import catalog
from aiserve.registry.prepare import Progress as ProgressFn, is_prepared, model_dir, prepare
from aiserve.registry.registry import find_spec
from aiserve.settings import Settings


@contextmanager
def _bar(label: str) -> Iterator[ProgressFn]:
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(), transient=False
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def update(name: str, done: int, total: int) -> None:
            if name not in tasks:
                what = "exporting to ONNX" if name == "export" else f"{name} ({total / 1e6:.1f} MB)"
                tasks[name] = bar.add_task(f"{label} {what}", total=total)
            bar.update(tasks[name], completed=done)

        yield update


def prepare_models(settings: Settings, names: list[str], *, force: bool = False, quiet: bool = False) -> list[str]:
    """Prepare each named model with a progress bar; returns the folders, and skips ready ones quietly."""
    folders = []
    for name in names:
        spec = find_spec(name, catalog(settings))
        if is_prepared(settings.models_dir, spec) and not force:
            folders.append(str(model_dir(settings.models_dir, spec)))
            continue
        with _bar(spec.key) as update:
            folders.append(str(prepare(settings.models_dir, spec, None if quiet else update, force=force)))
    return folders
