"""Typed backend options: converted from strings, checked once when the backend is built, and a bad option fails
the model's load with one line naming the model, the option and what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aiserve.engine.backends import resolve_backend
from aiserve.engine.backends.dummy import DummyBackend
from aiserve.engine.backends.llama_cpp import LlamaCppBackend
from aiserve.engine.backends.onnx_classifier import OnnxClassifierBackend
from aiserve.engine.backends.onnx_embedding import OnnxEmbeddingBackend
from aiserve.engine.backends.options import BackendOptions, batch_limit
from aiserve.engine.backends.transformers_lm import TransformersBackend
from aiserve.errors import InvalidOptions, ModelLoadFailed
from aiserve.registry.registry import load_backend
from aiserve.registry.spec import ModelSpec
from aiserve.settings import load_settings

pytestmark = pytest.mark.unit

FOLDER = Path("models") / "digits@2"


def test_defaults_match_the_untyped_options_they_replace() -> None:
    classifier = OnnxClassifierBackend(FOLDER, threads=1, options={})
    assert (classifier.transform.size, classifier.transform.resize, classifier.transform.normalize) == (224, 256, "tf")
    assert (classifier.opts.max_pixels, classifier.opts.top_k_max, classifier.opts.max_batch_size) == (
        40_000_000,
        20,
        None,
    )
    embedder = OnnxEmbeddingBackend(FOLDER, threads=1, options={})
    assert (embedder.opts.max_tokens, embedder.opts.truncate, embedder.opts.dimensions) == (256, True, 384)
    assert not embedder.opts.allow_spinning
    assert embedder.device == embedder.opts.device == "cpu"
    assert LlamaCppBackend(FOLDER, threads=1, options={}).max_running == 8
    assert TransformersBackend(FOLDER, threads=1, options={"slots": 0}).max_running == 8
    assert DummyBackend(FOLDER, threads=1, options={}).opts.delay_s == 0.0


def test_strings_from_a_toml_env_or_manifest_catalogue_are_converted() -> None:
    options = {"image_size": "299", "resize": 320.0, "normalize": "imagenet", "max_batch_size": "16", "device": "cpu"}
    classifier = OnnxClassifierBackend(FOLDER, threads=1, options=options)
    assert classifier.transform.size == 299
    assert classifier.transform.resize == 320
    assert classifier.opts.max_batch_size == 16
    embedder = OnnxEmbeddingBackend(FOLDER, threads=1, options={"truncate": "false", "max_tokens": "128"})
    assert embedder.opts.truncate is False
    assert embedder.info()["max_input_tokens"] == 128
    llama = LlamaCppBackend(FOLDER, threads=1, options={"slots": "2", "context_window": "4096"})
    assert (llama.max_running, llama.opts.context_window) == (2, 4096)


@pytest.mark.parametrize(
    ("cls", "options", "expected"),
    [
        (OnnxClassifierBackend, {"image_size": "big"}, "option 'image_size': Input should be a valid integer"),
        (OnnxClassifierBackend, {"normalize": "torch"}, "option 'normalize': Input should be 'tf' or 'imagenet'"),
        (OnnxClassifierBackend, {"colour": "red"}, "unknown option 'colour' (this backend reads: device, "),
        (OnnxEmbeddingBackend, {"truncate": "maybe"}, "option 'truncate': Input should be a valid boolean"),
        (OnnxEmbeddingBackend, {"image_size": 224}, "unknown option 'image_size'"),
        (TransformersBackend, {"dtype": "float64"}, "option 'dtype': Input should be "),
        (LlamaCppBackend, {"slots": -1}, "option 'slots': Input should be greater than or equal to 0, got -1"),
        (DummyBackend, {"device": "gpu"}, "option 'device': Input should be 'cpu' or 'cuda', got 'gpu'"),
    ],
)
def test_a_bad_option_fails_with_one_line_naming_the_model_and_the_option(
    cls: type[Any], options: dict[str, Any], expected: str
) -> None:
    with pytest.raises(InvalidOptions) as caught:
        cls(FOLDER, threads=1, options=options)
    message = str(caught.value)
    assert message.startswith("Invalid options for the model digits@2: ")
    assert expected in message
    assert "\n" not in message
    assert isinstance(caught.value, ModelLoadFailed)


def test_every_bad_option_is_named_at_once_and_long_values_are_cut() -> None:
    with pytest.raises(InvalidOptions) as caught:
        OnnxClassifierBackend(FOLDER, threads=1, options={"top_k_max": "x" * 500, "typo": 1})
    message = str(caught.value)
    assert "option 'top_k_max'" in message
    assert "unknown option 'typo'" in message
    assert len(message) < 400


def test_each_registered_backend_declares_its_options() -> None:
    for name in ("onnx-embedding", "onnx-classifier", "dummy", "llama-cpp", "transformers"):
        options = resolve_backend(name).Options
        assert issubclass(options, BackendOptions)
        assert options is not BackendOptions
        assert {"device", "max_batch_size"} <= set(options.model_fields)


def test_the_batch_limit_the_registry_reads_is_checked() -> None:
    assert batch_limit({}) is None
    assert batch_limit({"max_batch_size": "8", "image_size": 224, "device": "auto"}) == 8
    with pytest.raises(InvalidOptions, match="model digits@2: option 'max_batch_size': Input should be greater"):
        batch_limit({"max_batch_size": 0}, model="digits@2")


def test_load_backend_passes_the_server_settings_and_fails_on_a_bad_option(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, models={"prepare_on_start": False}, engine={"device": "cpu"})
    spec = ModelSpec(id="fake", task="embeddings", backend="dummy", files={}, options={"delay_s": "0"})
    backend = load_backend(settings, spec, warmup_batch=2)  # the dummy reads no `truncate`: none is passed to it
    assert isinstance(backend, DummyBackend)
    assert backend.opts.delay_s == 0.0
    bad = ModelSpec(id="fake", task="embeddings", backend="dummy", files={}, options={"delay_s": "slow"})
    with pytest.raises(InvalidOptions, match=r"^Invalid options for the model fake@1: option 'delay_s': "):
        load_backend(settings, bad, warmup_batch=2)
