"""`aiserve train` and `aiserve eval`, start to finish: train a new model version, evaluate a classifier."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aiserve.errors import InvalidInput, ModelNotFound
from aiserve.registry.catalog import catalog
from aiserve.registry.local import local_spec, next_version, publish, staging_dir
from aiserve.registry.prepare import model_dir, prepare
from aiserve.registry.registry import find_spec
from aiserve.registry.spec import ModelSpec
from aiserve.settings import Settings
from aiserve.training import nets, splits
from aiserve.training.dataset import Dataset, DatasetError, Sample, load_dataset
from aiserve.training.distill import DistillConfig, SoftTargets, check_labels, teacher_logits
from aiserve.training.evaluate import (
    Evaluation,
    Predict,
    Progress,
    classify,
    evaluate,
    open_classifier,
    pixels,
    score,
)
from aiserve.training.graph import GraphChoice, optimise
from aiserve.training.report import EvalFiles, plot_history, write_eval_report
from aiserve.training.trainer import EpochHook, StepHook, TrainConfig, TrainResult, train

SERVED = ("model.onnx", "labels.json")
TEACHER_CACHE = "checkpoints/teacher_logits.npy"
"""The teacher's logits, row `i` for training image `i` of `split.json`, columns in `labels.json` order."""


@dataclass(slots=True)
class Trained:
    """A new model version, ready to serve."""

    spec: ModelSpec
    folder: Path
    result: TrainResult
    test: Evaluation | None


def train_model(
    settings: Settings,
    dataset: Dataset,
    name: str,
    config: TrainConfig,
    *,
    version: str | None = None,
    on_step: StepHook | None = None,
    on_epoch: EpochHook | None = None,
    on_teacher: Progress | None = None,
) -> Trained:
    """Train on `dataset`, export ONNX, score the test split through the serving backend, and publish the folder
    as `name@version` (the next whole number by default). With `config.distill`, the teacher is first run once over
    the training images (`on_teacher(done, total)` follows it)."""
    models_dir = settings.models_dir
    version = version or next_version(models_dir, name)
    staging = staging_dir(models_dir, name, version)
    try:
        soft, distilled = None, None
        if config.distill is not None:
            soft, distilled = _soft_targets(settings, dataset, config.distill, staging, on_teacher)
        result = train(dataset, config, staging / "checkpoints", on_step=on_step, on_epoch=on_epoch, soft=soft)
        transform = result.transform
        nets.export_onnx(result.model.cpu(), staging / "model.onnx", transform.size)
        (staging / "labels.json").write_text(json.dumps(dataset.classes))
        splits.save(dataset, staging)
        options = {"image_size": transform.size, "resize": transform.resize, "normalize": transform.normalize}
        graph = optimise_export(settings, staging, options, dataset.splits["train"])
        test = None
        if dataset.splits["test"]:
            backend = open_classifier(staging, options, threads=settings.cpu_threads())
            test = evaluate(backend, dataset.classes, dataset.splits["test"])
        history = [asdict(r) for r in result.history]
        plot_history(history, staging / "training.png")
        training = {
            "config": config.to_dict(),
            "device": result.device,
            "best_epoch": result.best_epoch,
            "stopped_early": result.stopped_early,
            "test_accuracy": None if test is None else test.metrics.accuracy,
            "distillation": distilled,
            "graph": graph.to_dict(),
            "dataset": dataset.summary.to_dict(),
            "history": history,
        }
        (staging / "training.json").write_text(json.dumps(training, indent=2))
        spec = local_spec(
            name,
            version,
            task="classification",
            backend="onnx-classifier",
            outputs=SERVED,
            options={**options, "max_batch_size": 16},
            description=_description(config, dataset, distilled),
        )
        extra = {"made_by": "aiserve train"} | ({"distilled_from": distilled["teacher"]} if distilled else {})
        folder = publish(staging, spec, extra=extra)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Trained(spec, folder, result, test)


def _soft_targets(
    settings: Settings, dataset: Dataset, distill: DistillConfig, staging: Path, progress: Progress | None
) -> tuple[SoftTargets, dict[str, Any]]:
    """Run the teacher once over the training images; its logits are kept in memory and in `TEACHER_CACHE`."""
    spec, folder = find_model(settings, distill.teacher)
    backend = open_classifier(folder, spec.options, threads=settings.cpu_threads())
    columns = check_labels(spec.key, backend.labels, dataset.classes, dataset.summary.source)
    logits = teacher_logits(backend, dataset.splits["train"], columns, progress=progress)
    backend.unload()
    cache = staging / TEACHER_CACHE
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, logits)
    soft = SoftTargets(torch.from_numpy(logits), distill.temperature, distill.weight)
    info = {
        "teacher": spec.key,
        "temperature": distill.temperature,
        "weight": distill.weight,
        "teacher_images": len(logits),
        "teacher_logits": TEACHER_CACHE,
    }
    return soft, info


def optimise_export(settings: Settings, folder: Path, options: dict[str, Any], images: Sequence[Sample]) -> GraphChoice:
    """Keep `folder/model.onnx` as exported or graph-optimised, whichever measures faster here, checked on one of
    `images` put through the serving preprocessing."""
    backend = open_classifier(folder, options, threads=settings.cpu_threads())
    example = pixels(backend, images[:1])
    backend.unload()
    return optimise(folder / "model.onnx", example, threads=settings.cpu_threads())


def _description(config: TrainConfig, dataset: Dataset, distilled: dict[str, Any] | None) -> str:
    taught = f", distilled from {distilled['teacher']}" if distilled else ""
    return f"{nets.arch(config.arch).description}{taught}, trained on {dataset.summary.source}."


def find_model(
    settings: Settings, name: str, backends: tuple[str, ...] = ("onnx-classifier",)
) -> tuple[ModelSpec, Path]:
    """A catalogue model on one of `backends`, and its prepared folder."""
    spec = find_spec(name, catalog(settings))
    if spec.backend not in backends:
        wanted = " or ".join(backends)
        raise InvalidInput(f"{spec.key} is a {spec.task} model on {spec.backend}; this needs {wanted}.")
    return spec, prepare(settings.models_dir, spec)


def labelled(folder: Path | None, model: str, data: Path | None) -> tuple[list[str], list[Sample], str]:
    """Classes, images and a description: from `data` (its test/ folder, else every image in it), or the test
    split the model was trained with."""
    if data is not None:
        dataset = load_dataset(data, split=False)
        return dataset.classes, dataset.splits["test"], str(data)
    if folder is None:
        raise DatasetError(
            f"{model} is not a model trained here, so it has no test images of its own; pass --data DIR."
        )
    classes, saved = splits.load(folder, model)
    return classes, saved["test"], f"{model}'s test split"


def evaluate_model(
    settings: Settings,
    name: str,
    *,
    data: Path | None = None,
    out: Path | None = None,
    progress: Progress | None = None,
    predict: Predict | None = None,
) -> tuple[str, Evaluation, EvalFiles]:
    """Score a classifier on labelled images and write the report (JSON, Markdown, PNGs) to `out` (default: the
    model's `eval/` folder). Without `predict`, the model runs here through the serving backend; with it (a running
    server's answers), `name` need not be in this machine's catalogue."""
    folder: Path | None
    if predict is None:
        spec, folder = find_model(settings, name)
        key: str = spec.key
        backend = open_classifier(folder, spec.options, threads=settings.cpu_threads())

        def predict(samples: Sequence[Sample]) -> list[tuple[str, float]]:
            return classify(backend, samples, progress=progress)

    else:
        key, folder = name, _local_folder(settings, name)
    classes, samples, described = labelled(folder, key, data)
    evaluation = score(classes, samples, predict(samples))
    default_out = folder / "eval" if folder is not None else Path(f"eval-{key.replace('/', '_')}")
    files = write_eval_report(
        out or default_out, model=key, data=described, metrics=evaluation.metrics, predictions=evaluation.predictions
    )
    return key, evaluation, files


def _local_folder(settings: Settings, name: str) -> Path | None:
    try:
        spec = find_spec(name, catalog(settings))
    except ModelNotFound:
        return None
    folder = model_dir(settings.models_dir, spec)
    return folder if folder.is_dir() else None
