"""Models made on this machine (`aiserve train`, `aiserve export --quantize`): a folder `<models_dir>/<id>@<version>/`
whose `manifest.json` also holds the spec to serve it with. The catalogue finds them by looking, so a running server
can hot-load a version written after it started."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from aiserve.registry.prepare import PrepareError, describe
from aiserve.registry.spec import ModelSpec

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_name(name: str, what: str = "model name") -> str:
    """`name` if it can be a model id or version (letters, digits, `.`, `_`, `-`), else a clear error."""
    if not _NAME.match(name):
        raise PrepareError(f"Invalid {what} {name!r}: use letters, digits, '.', '_' or '-' (at most 64).")
    return name


def next_version(models_dir: Path, model_id: str) -> str:
    """One more than the highest whole-number version of `model_id` here (`1` for a new id)."""
    taken = [
        int(version)
        for path in (models_dir.iterdir() if models_dir.is_dir() else ())
        for name, _, version in [path.name.partition("@")]
        if name.lower() == model_id.lower() and version.isascii() and version.isdigit()
    ]
    return str(max(taken, default=0) + 1)


def staging_dir(models_dir: Path, model_id: str, version: str) -> Path:
    """A fresh folder to build `model_id@version` in; `publish` moves it into place."""
    check_name(model_id)
    check_name(version, "version")
    final = models_dir / f"{model_id}@{version}"
    if final.exists():
        raise PrepareError(f"The model {model_id}@{version} already exists in {models_dir}; choose another version.")
    staging = models_dir / f".{model_id}@{version}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def publish(staging: Path, spec: ModelSpec, *, extra: dict[str, Any] | None = None) -> Path:
    """Checksum the served files, write the manifest with the spec, and move the folder into place atomically."""
    files = {name: {**describe(staging / name), "source": "local"} for name in spec.outputs}
    manifest = {
        "id": spec.id,
        "version": spec.version,
        "recipe": spec.recipe(),
        "files": files,
        "spec": {
            "task": spec.task,
            "backend": spec.backend,
            "aliases": list(spec.aliases),
            "options": spec.options,
            "description": spec.description,
        },
        **(extra or {}),
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
    final = staging.parent / spec.key
    if final.exists():
        raise PrepareError(f"The model {spec.key} already exists in {staging.parent}.")
    staging.rename(final)
    return final


def local_spec(
    model_id: str, version: str, *, task: str, backend: str, outputs: tuple[str, ...], **kw: Any
) -> ModelSpec:
    """The spec of a model made here: its files are already in its folder, so it has no sources and no builder."""
    return ModelSpec(id=model_id, version=version, task=task, backend=backend, files={}, outputs=outputs, **kw)


def discover(models_dir: Path) -> tuple[ModelSpec, ...]:
    """Every published local model in `models_dir`, by id then version."""
    if not models_dir.is_dir():
        return ()
    found = []
    for manifest_path in sorted(models_dir.glob("*@*/manifest.json")):
        try:
            manifest = json.loads(manifest_path.read_text())
            spec = manifest["spec"]
            found.append(
                local_spec(
                    manifest["id"],
                    manifest["version"],
                    task=spec["task"],
                    backend=spec["backend"],
                    outputs=tuple(manifest["files"]),
                    aliases=tuple(spec.get("aliases", ())),
                    options=dict(spec.get("options", {})),
                    description=spec.get("description", ""),
                )
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a built-in model's folder (no spec), or one that is not ours
    return tuple(found)
