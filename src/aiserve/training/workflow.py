"""`aiserve train` and `aiserve eval`, start to finish: train a new model version, evaluate a classifier."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from aiserve.errors import InvalidInput
from aiserve.registry.catalog import catalog
from aiserve.registry.local import local_spec, next_version, publish, staging_dir
from aiserve.registry.prepare import prepare
from aiserve.registry.registry import find_spec
from aiserve.registry.spec import ModelSpec
from aiserve.settings import Settings
from aiserve.training import nets, splits
from aiserve.training.dataset import Dataset, Sample, load_dataset
from aiserve.training.evaluate import Evaluation, Progress, evaluate, open_classifier
from aiserve.training.report import EvalFiles, plot_history, write_eval_report
from aiserve.training.trainer import EpochHook, StepHook, TrainConfig, TrainResult, train

SERVED = ("model.onnx", "labels.json")


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
) -> Trained:
    """Train on `dataset`, export ONNX, score the test split through the serving backend, and publish the folder
    as `name@version` (the next whole number by default)."""
    models_dir = settings.models_dir
    version = version or next_version(models_dir, name)
    staging = staging_dir(models_dir, name, version)
    try:
        result = train(dataset, config, staging / "checkpoints", on_step=on_step, on_epoch=on_epoch)
        transform = result.transform
        nets.export_onnx(result.model.cpu(), staging / "model.onnx", transform.size)
        (staging / "labels.json").write_text(json.dumps(dataset.classes))
        splits.save(dataset, staging)
        options = {"image_size": transform.size, "resize": transform.resize, "normalize": transform.normalize}
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
            description=f"{nets.arch(config.arch).description}, trained on {dataset.summary.source}.",
        )
        folder = publish(staging, spec, extra={"made_by": "aiserve train"})
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Trained(spec, folder, result, test)


def find_model(
    settings: Settings, name: str, backends: tuple[str, ...] = ("onnx-classifier",)
) -> tuple[ModelSpec, Path]:
    """A catalogue model on one of `backends`, and its prepared folder."""
    spec = find_spec(name, catalog(settings))
    if spec.backend not in backends:
        wanted = " or ".join(backends)
        raise InvalidInput(f"{spec.key} is a {spec.task} model on {spec.backend}; this needs {wanted}.")
    return spec, prepare(settings.models_dir, spec)


def labelled(folder: Path, model: str, data: Path | None, split: str) -> tuple[list[str], list[Sample], str]:
    """Classes, images of `split` and a description: from `data` (every image in it) or the model's own split."""
    if data is not None:
        dataset = load_dataset(data, split=False)
        return dataset.classes, dataset.splits["test"], str(data)
    classes, saved = splits.load(folder, model)
    return classes, saved[split], f"{model}'s {split} split"


def evaluate_model(
    settings: Settings,
    name: str,
    *,
    data: Path | None = None,
    out: Path | None = None,
    progress: Progress | None = None,
) -> tuple[ModelSpec, Evaluation, EvalFiles]:
    """Score a classifier on labelled images and write the report (JSON, Markdown, PNGs) to `out`
    (default: the model's `eval/` folder)."""
    spec, folder = find_model(settings, name)
    classes, samples, described = labelled(folder, spec.key, data, "test")
    backend = open_classifier(folder, spec.options, threads=settings.cpu_threads())
    evaluation = evaluate(backend, classes, samples, progress=progress)
    files = write_eval_report(
        out or folder / "eval",
        model=spec.key,
        data=described,
        metrics=evaluation.metrics,
        predictions=evaluation.predictions,
    )
    return spec, evaluation, files
