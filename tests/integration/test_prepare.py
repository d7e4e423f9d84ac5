"""`aiserve models prepare`: files gathered once, reused after, clear errors when a package is missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiserve.registry.catalog import MINILM
from aiserve.registry.prepare import PrepareError, is_prepared, prepare
from aiserve.registry.spec import ModelSpec, PackageFile

pytestmark = pytest.mark.integration


def test_prepare_once_then_reuse(tmp_path: Path) -> None:
    seen: list[str] = []
    folder = prepare(tmp_path, MINILM, lambda name, done, total: seen.append(name))
    assert {"model.onnx", "tokenizer.json"} <= set(seen)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["files"]["model.onnx"]["size"] == (folder / "model.onnx").stat().st_size
    assert len(manifest["files"]["model.onnx"]["sha256"]) == 64
    assert is_prepared(tmp_path, MINILM)
    stamp = (folder / "model.onnx").stat().st_mtime_ns
    seen.clear()
    prepare(tmp_path, MINILM, lambda name, done, total: seen.append(name))
    assert seen == []
    assert (folder / "model.onnx").stat().st_mtime_ns == stamp


def test_a_damaged_folder_is_prepared_again(tmp_path: Path) -> None:
    folder = prepare(tmp_path, MINILM)
    (folder / "tokenizer.json").write_text("{}")
    assert not is_prepared(tmp_path, MINILM)
    prepare(tmp_path, MINILM)
    assert is_prepared(tmp_path, MINILM)


def test_missing_package_names_the_install_command(tmp_path: Path) -> None:
    spec = ModelSpec(
        id="ghost",
        task="embeddings",
        backend="onnx-embedding",
        files={"model.onnx": PackageFile("no_such_package_here", "model.onnx", "pip install no-such-package")},
    )
    with pytest.raises(PrepareError, match="pip install no-such-package"):
        prepare(tmp_path, spec)
    assert not (tmp_path / "ghost").exists()
