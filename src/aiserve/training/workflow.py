"""The three commands' work, start to finish: train a new model version, evaluate a classifier, quantise one."""

from __future__ import annotations

import json
import random
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
from aiserve.training.compress import Comparison, agreement, measure, quantize_static
from aiserve.training.dataset import Dataset, Sample, load_dataset
from aiserve.training.evaluate import Evaluation, Progress, evaluate, open_classifier, pixels
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


def classifier(settings: Settings, name: str) -> tuple[ModelSpec, Path]:
    """A catalogue classifier and its prepared folder."""
    spec = find_spec(name, catalog(settings))
    if spec.task != "classification" or spec.backend != "onnx-classifier":
        raise InvalidInput(f"{spec.key} is a {spec.task} model on {spec.backend}; this needs an ONNX classifier.")
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
    spec, folder = classifier(settings, name)
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


@dataclass(slots=True)
class Quantized:
    """The comparison, and where the int8 model went (None when it was refused)."""

    comparison: Comparison
    spec: ModelSpec | None
    report: Path


def quantize_model(
    settings: Settings,
    name: str,
    *,
    data: Path | None = None,
    version: str | None = None,
    max_drop: float = 1.0,
    force: bool = False,
    calibration: int = 256,
    seed: int = 0,
) -> Quantized:
    """Static int8 of a classifier, calibrated on its training images (or `data`), compared with fp32 on its test
    images; registered as `name@<version>-int8` when within `max_drop` accuracy points, or when forced."""
    spec, folder = classifier(settings, name)
    if data is not None:
        dataset = load_dataset(data, seed=seed)
        classes, train_samples, test_samples = dataset.classes, dataset.splits["train"], dataset.splits["test"]
    else:
        classes, saved = splits.load(folder, spec.key)
        train_samples, test_samples = saved["train"], saved["test"]
    target = version or f"{spec.version}-int8"
    staging = staging_dir(settings.models_dir, spec.id, target)
    try:
        threads = settings.cpu_threads()
        fp32 = open_classifier(folder, spec.options, threads=threads)
        chosen = random.Random(seed).sample(train_samples, min(calibration, len(train_samples)))
        quantize_static(folder / "model.onnx", staging / "model.onnx", pixels(fp32, chosen))
        for extra in ("labels.json", splits.FILE):
            if (folder / extra).is_file():
                shutil.copy2(folder / extra, staging / extra)
        int8 = open_classifier(staging, spec.options, threads=threads)
        before, after = evaluate(fp32, classes, test_samples), evaluate(int8, classes, test_samples)
        sample_pixels = pixels(fp32, test_samples[:16])
        comparison = Comparison(
            source=spec.key,
            target=f"{spec.id}@{target}",
            method="static int8 (QDQ, per-channel weights, min/max calibration)",
            fp32=measure(folder / "model.onnx", sample_pixels, before.metrics.accuracy, threads=threads),
            int8=measure(staging / "model.onnx", sample_pixels, after.metrics.accuracy, threads=threads),
            agreement=agreement([p.predicted for p in before.predictions], [p.predicted for p in after.predictions]),
            images=len(test_samples),
            max_drop=max_drop,
            calibration_images=len(chosen),
        )
        (staging / "compression.json").write_text(json.dumps(comparison.to_dict(), indent=2))
        (staging / "compression.md").write_text(comparison.to_markdown())
        if not (comparison.acceptable or force):
            kept = folder / f"compression-{target}"
            shutil.rmtree(kept, ignore_errors=True)
            kept.mkdir()
            for report in ("compression.json", "compression.md"):
                shutil.copy2(staging / report, kept / report)
            shutil.rmtree(staging)
            return Quantized(comparison, None, kept / "compression.md")
        int8_spec = local_spec(
            spec.id,
            target,
            task=spec.task,
            backend=spec.backend,
            outputs=SERVED,
            options=spec.options,
            description=f"{spec.key} quantised to int8 (static, calibrated on {len(chosen)} images).",
        )
        published = publish(staging, int8_spec, extra={"made_by": "aiserve export --quantize", "source": spec.key})
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Quantized(comparison, int8_spec, published / "compression.md")
