"""Training for real on packaged data: repeatable by seed (EfficientNet-Lite0 on faces is in test_compression), and the
int8 gate that keeps a quantised model with too large an accuracy drop out of the catalogue."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from aiserve.errors import InvalidInput
from aiserve.registry.bundle import export_bundle, verify_bundle
from aiserve.registry.catalog import catalog
from aiserve.registry.local import discover
from aiserve.registry.registry import find_spec
from aiserve.settings import Settings
from aiserve.training.dataset import load_dataset
from aiserve.training.quantize import quantize_model
from aiserve.training.trainer import EarlyStopping, TrainConfig, train
from aiserve.training.workflow import Trained, train_model
from tests.conftest import MakeSettings
from tests.datasets import write_digits

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_digits(tmp_path_factory.mktemp("digits"), per_class=40)


@pytest.fixture
def settings(make_settings: MakeSettings, tmp_path: Path) -> Settings:
    return make_settings(models={"dir": tmp_path / "models"})


def test_the_same_seed_trains_the_same_model(digits: Path, tmp_path: Path) -> None:
    dataset = load_dataset(digits, seed=3)
    config = TrainConfig(arch="small-cnn", epochs=2, seed=3)
    first = train(dataset, config, tmp_path / "a")
    second = train(dataset, config, tmp_path / "b")
    third = train(dataset, TrainConfig(arch="small-cnn", epochs=2, seed=4), tmp_path / "c")
    loaders = train(dataset, TrainConfig(arch="small-cnn", epochs=2, seed=3, workers=2), tmp_path / "d")

    assert [r.train_loss for r in first.history] == [r.train_loss for r in second.history]
    weights = [m.state_dict()["head.1.weight"] for m in (first.model, second.model, third.model, loaders.model)]
    assert torch.equal(weights[0], weights[1])
    assert not torch.equal(weights[0], weights[2])
    assert torch.allclose(weights[0], weights[3])  # augmentation draws per image, not per process
    assert {p.name for p in (tmp_path / "a").iterdir()} == {"last.pt", "best.pt"}
    saved = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    assert saved["epoch"]["epoch"] == 2
    assert saved["classes"] == dataset.classes


def test_early_stopping_waits_patience_epochs_for_a_better_one() -> None:
    stopper = EarlyStopping(patience=2)
    assert stopper.update(0.5, 1.0)
    assert stopper.update(0.6, 1.2)  # higher accuracy wins whatever the loss
    assert not stopper.update(0.6, 1.19995)  # the same accuracy needs a clearly lower loss
    assert not stopper.should_stop
    assert not stopper.update(0.55, 0.1)
    assert stopper.should_stop
    assert stopper.update(0.6, 1.0)
    assert not stopper.should_stop
    never = EarlyStopping(patience=0)
    for _ in range(10):
        never.update(0.1, 9.0)
    assert not never.should_stop


@pytest.fixture
def small_digits_model(settings: Settings, digits: Path) -> Trained:
    return train_model(settings, load_dataset(digits, seed=0), "digits", TrainConfig(arch="small-cnn", epochs=3))


def test_a_quantised_model_over_the_allowed_drop_is_not_registered_unless_forced(
    settings: Settings, small_digits_model: Trained
) -> None:
    refused = quantize_model(settings, "digits@1", max_drop=-100.0)  # demands a 100-point gain: never met
    assert refused.spec is None
    assert not (settings.models_dir / "digits@1-int8").exists()
    assert refused.report == small_digits_model.folder / "compression-1-int8" / "compression.md"
    assert "NOT registered" in refused.report.read_text()
    with pytest.raises(Exception, match="digits@1-int8"):
        find_spec("digits@1-int8", catalog(settings))

    forced = quantize_model(settings, "digits@1", max_drop=-100.0, force=True)
    assert forced.spec is not None
    assert forced.spec.key == "digits@1-int8"
    assert find_spec("digits@1-int8", catalog(settings)).options == small_digits_model.spec.options
    numbers = json.loads((settings.models_dir / "digits@1-int8" / "compression.json").read_text())
    assert numbers["compressed"]["size_bytes"] < numbers["original"]["size_bytes"]
    assert numbers["acceptable"] is False
    with pytest.raises(InvalidInput, match="digits@1-int8 is already int8; quantise digits@1 instead"):
        quantize_model(settings, "digits@1-int8")


def test_a_trained_model_goes_into_an_edge_bundle_without_its_training_files(
    settings: Settings, small_digits_model: Trained, tmp_path: Path
) -> None:
    export_bundle(settings.models_dir, tmp_path / "bundle", [small_digits_model.spec])

    assert verify_bundle(tmp_path / "bundle") == ["digits@1"]
    shipped = {p.name for p in (tmp_path / "bundle" / "models" / "digits@1").iterdir()}
    assert shipped == {"model.onnx", "labels.json", "manifest.json", "training.json", "training.png"}
    assert discover(tmp_path / "bundle" / "models") == (small_digits_model.spec,)


def test_the_embedding_model_gets_dynamic_per_channel_int8(settings: Settings, report: Callable[[str], None]) -> None:
    done = quantize_model(settings, "all-minilm-l6-v2@fp32")

    numbers = done.comparison
    report(
        f"all-MiniLM-L6-v2 fp32 → dynamic int8: {numbers.original.size_bytes / 1e6:.1f} → "
        f"{numbers.compressed.size_bytes / 1e6:.1f} MB, "
        f"cosine {numbers.cosine:.4f}, retrieval {numbers.original.accuracy:.1%} → {numbers.compressed.accuracy:.1%}, "
        f"top-1 agreement {numbers.agreement:.1%}"
    )
    assert done.spec is not None
    assert done.spec.key == "all-minilm-l6-v2@fp32-int8"
    assert numbers.compressed.size_bytes < numbers.original.size_bytes / 3
    assert numbers.cosine is not None
    assert numbers.cosine > 0.98
    assert numbers.compressed.accuracy is not None
    assert numbers.compressed.accuracy >= 0.9
    assert {p.name for p in (settings.models_dir / done.spec.key).iterdir()} >= {"model.onnx", "tokenizer.json"}
    assert find_spec(done.spec.key, catalog(settings)).task == "embeddings"
