"""`aiserve models prepare`: gather a model's files into the data directory once, and reuse them after.

A prepared model is a folder `<models_dir>/<id>/` holding its files and a `manifest.json` with their sizes and
SHA-256 digests. A folder whose manifest matches its files is reused as it is.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiserve.errors import AiserveError
from aiserve.registry.spec import LocalFile, ModelSpec, Source

Progress = Callable[[str, int, int], None]
"""Called as `progress(file_name, bytes_done, bytes_total)`."""

_CHUNK = 1 << 20
BUILD_HINT = "pip install torch==2.13.0 && pip install 'aiserve[export]' (or run `make install`)"


class PrepareError(AiserveError):
    """A model's files cannot be found or copied."""


def model_dir(models_dir: Path, spec: ModelSpec) -> Path:
    """Where `spec`'s prepared files live."""
    return models_dir / spec.key


def is_prepared(models_dir: Path, spec: ModelSpec) -> bool:
    """Whether the model's folder was made by the spec's recipe and holds every file at its listed size."""
    folder = model_dir(models_dir, spec)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    files = manifest.get("files", {})
    return (
        manifest.get("recipe") == spec.recipe()
        and set(files) == {*spec.files, *spec.outputs}
        and all((folder / n).is_file() and (folder / n).stat().st_size == meta["size"] for n, meta in files.items())
    )


def locate(source: Source) -> Path:
    """The path of a model file: a local file, or a file inside an installed package (found without importing it)."""
    if isinstance(source, LocalFile):
        if not source.path.is_file():
            raise PrepareError(f"The model file '{source.path}' does not exist.")
        return source.path
    found = importlib.util.find_spec(source.package)
    if found is None or not found.submodule_search_locations:
        raise PrepareError(f"The package '{source.package}' is not installed. Install it: {source.install_hint}")
    path = Path(next(iter(found.submodule_search_locations))) / source.path
    if not path.is_file():
        raise PrepareError(f"'{source.path}' is missing from the package '{source.package}'; reinstall it.")
    return path


def prepare(models_dir: Path, spec: ModelSpec, progress: Progress | None = None, *, force: bool = False) -> Path:
    """Copy the model's files into place and write the manifest; a no-op when already prepared."""
    folder = model_dir(models_dir, spec)
    if not force and is_prepared(models_dir, spec):
        return folder
    if not spec.files and not spec.builder:  # made here (trained, quantised): nothing to make it again from
        raise PrepareError(f"The model folder '{folder}' is missing files or was changed; train or export it again.")
    sources = {name: locate(source) for name, source in spec.files.items()}
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    files = {name: _copy(src, staging / name, progress) for name, src in sources.items()}
    if spec.builder:
        _build(spec, staging, progress)
        files.update({name: {**describe(staging / name), "source": "built"} for name in spec.outputs})
    manifest = {"id": spec.id, "recipe": spec.recipe(), "files": files}
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)  # atomic: a crash never leaves a half-prepared model behind
    return folder


def _build(spec: ModelSpec, folder: Path, progress: Progress | None) -> None:
    assert spec.builder is not None
    module_name, _, attr = spec.builder.partition(":")
    try:
        build: Callable[[Path, dict[str, Any]], None] = getattr(importlib.import_module(module_name), attr)
    except ImportError as exc:
        raise PrepareError(f"Preparing '{spec.id}' needs '{exc.name}'. Install it: {BUILD_HINT}") from None
    if progress is not None:
        progress("export", 0, 1)
    with warnings.catch_warnings():  # exporters are chatty about tracing details that do not matter here
        warnings.simplefilter("ignore")
        build(folder, spec.options)
    missing = [name for name in spec.outputs if not (folder / name).is_file()]
    if missing:
        raise PrepareError(f"Preparing '{spec.id}' did not produce {', '.join(missing)}.")
    if progress is not None:
        progress("export", 1, 1)


def describe(path: Path) -> dict[str, object]:
    """A file's size and SHA-256 digest, as manifests list them."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return {"size": path.stat().st_size, "sha256": digest.hexdigest()}


def _copy(src: Path, dst: Path, progress: Progress | None) -> dict[str, object]:
    total = src.stat().st_size
    digest = hashlib.sha256()
    done = 0
    with src.open("rb") as fin, dst.open("wb") as fout:
        while chunk := fin.read(_CHUNK):
            fout.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(dst.name, done, total)
    return {"size": total, "sha256": digest.hexdigest(), "source": str(src)}
