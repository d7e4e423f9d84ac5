"""Edge bundles: a self-contained folder of prepared models that a torch-free install serves offline.

`bundle.json` names the models and the aiserve that made it; each model folder keeps its own manifest with every
file's size and sha256, checked again before a bundle is served (a damaged or altered file is refused by name);
`aiserve.toml` holds the settings that serve it."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from aiserve import __version__
from aiserve.errors import AiserveError
from aiserve.registry.prepare import is_prepared, model_dir
from aiserve.registry.spec import ModelSpec

EDGE_MODELS = ("all-minilm-l6-v2", "efficientnet-lite0")
"""The default bundle: the ONNX models (the embedding model is already int8)."""


_NOT_SERVED = shutil.ignore_patterns("checkpoints", "eval", "compression-*", "split.json")
"""What training leaves beside a model that serving does not need."""


class BundleError(AiserveError):
    """A bundle cannot be made or served."""


def export_bundle(models_dir: Path, target: Path, specs: list[ModelSpec]) -> list[str]:
    """Copy the prepared `specs` into a new bundle at `target`; the models' names."""
    if target.exists() and any(target.iterdir()):
        raise BundleError(f"{target} is not empty; choose a new folder")
    for spec in specs:
        if not is_prepared(models_dir, spec):
            raise BundleError(f"{spec.key} is not prepared here; run `aiserve models prepare {spec.key}` first")
        if not (model_dir(models_dir, spec) / "model.onnx").is_file():
            raise BundleError(f"{spec.key} is not an ONNX model; an edge bundle serves ONNX models only")
    names = [spec.key for spec in specs]
    for spec in specs:
        shutil.copytree(model_dir(models_dir, spec), target / "models" / spec.key, ignore=_NOT_SERVED)
    manifest = {"format": 1, "aiserve": __version__, "created": datetime.now(UTC).isoformat(), "models": names}
    (target / "bundle.json").write_text(json.dumps(manifest, indent=2) + "\n")
    enabled = ", ".join(f'"{name}"' for name in names)
    (target / "aiserve.toml").write_text(
        "# serve with: aiserve serve --bundle <this folder>\n"
        f"[models]\nenabled = [{enabled}]\nprepare_on_start = false\n"
    )
    return names


def verify_bundle(bundle: Path) -> list[str]:
    """The bundle's model names, once every file's size and sha256 match its manifest."""
    try:
        names: list[str] = json.loads((bundle / "bundle.json").read_text())["models"]
    except (OSError, ValueError, KeyError):
        raise BundleError(f"{bundle} is not an aiserve bundle (no readable bundle.json)") from None
    for name in names:
        folder = bundle / "models" / name
        try:
            files = json.loads((folder / "manifest.json").read_text())["files"]
        except (OSError, ValueError, KeyError):
            raise BundleError(f"{folder}: no readable manifest.json") from None
        for filename, meta in files.items():
            path = folder / filename
            if not path.is_file() or path.stat().st_size != meta["size"] or _sha256(path) != meta["sha256"]:
                raise BundleError(f"{path} does not match its checksum: the bundle is damaged; export it again")
    return names


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
