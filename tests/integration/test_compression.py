"""Compression beyond int8, for real, on scikit-image's packaged faces (100 faces, 100 other patches, 25×25 grey):
an EfficientNet-Lite0 fine-tuned on 60 of them is the teacher; a small CNN distilled from it beats the same CNN
trained alone; half its channels pruned, it does a quarter of the work within the allowed accuracy drop and can then
be quantised; magnitude pruning zeroes half its weights; and one command compares every variant, with a Pareto plot
drawn from the numbers it reports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from PIL import Image
from typer.testing import CliRunner

from aiserve.cli.main import app
from aiserve.errors import InvalidInput
from aiserve.registry.catalog import catalog
from aiserve.registry.registry import find_spec
from aiserve.settings import Settings, load_settings
from aiserve.training import nets
from aiserve.training.compare import Entry, compare, pareto_front
from aiserve.training.compress import Compressed
from aiserve.training.dataset import Dataset, load_dataset
from aiserve.training.distill import DistillConfig
from aiserve.training.half import half_model
from aiserve.training.prune import prune_channels, prune_model
from aiserve.training.quantize import quantize_model
from aiserve.training.report import PARETO_METADATA_KEY
from aiserve.training.trainer import TrainConfig
from aiserve.training.workflow import Trained, train_model
from tests.datasets import write_faces

pytestmark = pytest.mark.integration

SEED = 2
"""docs/training.md gives all three seeds measured; the test holds for each."""


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(data_dir=tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """60 training, 40 validation and 100 test images."""
    return load_dataset(write_faces(tmp_path_factory.mktemp("faces")), val=0.2, test=0.5, seed=SEED)


@pytest.fixture(scope="module")
def teacher(settings: Settings, faces: Dataset) -> Trained:
    """faces@1: EfficientNet-Lite0, ImageNet backbone frozen, a new head trained for 5 epochs."""
    config = TrainConfig(arch="efficientnet-lite0", epochs=5, lr=0.01, patience=0, seed=SEED)
    return train_model(settings, faces, "faces", config)


def _small_cnn(settings: Settings, faces: Dataset, name: str, distill: DistillConfig | None = None) -> Trained:
    config = TrainConfig(arch="small-cnn", epochs=30, patience=0, seed=SEED, distill=distill)
    return train_model(settings, faces, name, config)


@pytest.fixture(scope="module")
def alone(settings: Settings, faces: Dataset) -> Trained:
    return _small_cnn(settings, faces, "alone")


@pytest.fixture(scope="module")
def distilled(settings: Settings, faces: Dataset, teacher: Trained) -> Trained:
    return _small_cnn(settings, faces, "student", DistillConfig(teacher.spec.key))


@pytest.fixture(scope="module")
def pruned(settings: Settings, teacher: Trained) -> Compressed:
    return prune_model(settings, teacher.spec.key, 0.5, structured=True, epochs=10, max_drop=1.0)


@pytest.fixture(scope="module")
def half(settings: Settings, teacher: Trained) -> Compressed:
    return half_model(settings, teacher.spec.key)


@pytest.fixture(scope="module")
def sparse(settings: Settings, teacher: Trained) -> Compressed:
    return prune_model(settings, teacher.spec.key, 0.5, epochs=1, force=True)


def test_efficientnet_fine_tuned_on_60_faces_is_registered_and_far_above_chance(
    settings: Settings, teacher: Trained
) -> None:
    assert teacher.test is not None
    assert teacher.test.metrics.accuracy >= 0.8  # chance: 50 %
    assert teacher.spec.key == "faces@1"
    manifest = json.loads((teacher.folder / "manifest.json").read_text())
    assert manifest["spec"]["options"]["image_size"] == 224
    assert find_spec("faces@1", catalog(settings)).backend == "onnx-classifier"


def test_a_small_cnn_distilled_from_efficientnet_beats_the_same_cnn_trained_alone(
    teacher: Trained, alone: Trained, distilled: Trained, report: Callable[[str], None]
) -> None:
    assert teacher.test is not None
    assert alone.test is not None
    assert distilled.test is not None
    big, small, taught = teacher.test.metrics.accuracy, alone.test.metrics.accuracy, distilled.test.metrics.accuracy
    report(f"faces, 100 test images: EfficientNet-Lite0 teacher {big:.0%}, small CNN alone {small:.0%}, "
           f"distilled {taught:.0%} (seed {SEED}, 30 epochs each)")  # fmt: skip
    assert big >= small + 0.05  # the premise: the small CNN alone is clearly below its teacher
    assert taught > small
    # at least 5x less work than the teacher at batch 1, counted (times are not asserted on shared machines)
    assert nets.flops(nets.build("efficientnet-lite0", 2, pretrained=False), 224) >= 5 * nets.flops(
        nets.build("small-cnn", 2), 32
    )


def test_half_the_channels_pruned_does_a_quarter_of_the_work_within_the_allowed_drop_and_quantises(
    settings: Settings, pruned: Compressed, report: Callable[[str], None]
) -> None:
    done = pruned
    assert done.spec is not None, done.report.read_text()
    assert done.spec.key == "faces@1-pruned50"
    numbers = done.comparison
    assert numbers.drop is not None
    assert numbers.drop <= 1.0
    assert numbers.compressed.size_bytes < numbers.original.size_bytes / 3
    fresh = nets.build("efficientnet-lite0", 2, pretrained=False)
    before = nets.flops(fresh, 224)
    prune_channels(fresh, 0.5, 224)
    assert before >= 1.3 * nets.flops(fresh, 224)  # the 1.3x speed goal, held as work rather than time
    graph = onnx.load(str(settings.models_dir / "faces@1-pruned50" / "model.onnx"))
    weights = sum(numpy_helper.to_array(w).size for w in graph.graph.initializer)
    assert weights < sum(p.numel() for p in fresh.parameters()) * 1.05  # the registered file is the thin network
    report(f"EfficientNet-Lite0, 50 % of channels pruned, 10 epochs of fine-tuning: accuracy "
           f"{numbers.original.accuracy:.0%} → {numbers.compressed.accuracy:.0%}, batch 16 "
           f"{numbers.original.latency_ms_batch16:.1f} → {numbers.compressed.latency_ms_batch16:.1f} ms, "
           f"{before / 1e6:.0f} → {nets.flops(fresh, 224) / 1e6:.0f} MFLOPs per image")  # fmt: skip
    assert "MFLOPs per image" in numbers.method

    quantized = quantize_model(settings, "faces@1-pruned50", max_drop=100.0)
    assert quantized.spec is not None
    assert quantized.spec.key == "faces@1-pruned50-int8"


def test_magnitude_pruning_zeroes_half_of_every_pruned_layer(settings: Settings, sparse: Compressed) -> None:
    done = sparse
    assert done.spec is not None
    assert done.spec.key == "faces@1-sparse50"
    graph = onnx.load(str(settings.models_dir / "faces@1-sparse50" / "model.onnx")).graph
    convolutions = {n.input[1] for n in graph.node if n.op_type == "Conv"}
    weights = [numpy_helper.to_array(w) for w in graph.initializer if w.name in convolutions]
    assert len(weights) > 40
    assert all(np.mean(w == 0) >= 0.49 for w in weights if w.size >= 8)  # still zero after fine-tuning


def test_fp16_halves_the_file_and_keeps_the_answers(half: Compressed, report: Callable[[str], None]) -> None:
    assert half.spec is not None
    assert half.spec.key == "faces@1-fp16"
    numbers = half.comparison
    sizes = f"{numbers.original.size_bytes / 1e6:.1f} → {numbers.compressed.size_bytes / 1e6:.1f} MB"
    report(f"EfficientNet-Lite0 fp16: {sizes}, agreement {numbers.agreement:.0%}; {numbers.method}")
    assert numbers.compressed.size_bytes < numbers.original.size_bytes * 0.55
    assert numbers.agreement >= 0.98
    assert numbers.drop is not None
    assert numbers.drop <= 1.0
    graph = onnx.load(str(half.report.parent / "model.onnx")).graph
    assert {w.data_type for w in graph.initializer if len(w.dims) == 4} == {onnx.TensorProto.FLOAT16}
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # clients still send float32
    assert "latency measured on the CPU" in numbers.method  # no GPU here: said so, not hidden


def test_pruning_refuses_what_it_cannot_do_in_one_line(
    settings: Settings, teacher: Trained, faces: Dataset, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match=r"efficientnet-lite0@1 has no training checkpoint"):
        prune_model(settings, "efficientnet-lite0", 0.5)
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        prune_model(settings, "faces@1", 1.0)
    with pytest.raises(InvalidInput, match="at least 1"):
        prune_model(settings, "faces@1", 0.5, epochs=0)
    untested = load_dataset(Path(faces.summary.source), val=0.2, test=0.0, seed=SEED)
    train_model(settings, untested, "untested", TrainConfig(arch="small-cnn", epochs=1, seed=SEED))
    with pytest.raises(InvalidInput, match=r"untested@1 was trained without test images \(--test 0\)"):
        prune_model(settings, "untested@1", 0.5)
    with pytest.raises(InvalidInput, match="no test images to compare on; pass --data DIR"):
        compare(settings, "untested@1", out=tmp_path)
    assert not list(settings.models_dir.glob("untested@1-*"))
    for args, message in (
        (["faces@1", "--structured", "--quantize"], "--structured and --fine-tune-epochs go with --prune RATIO."),
        (["faces@1", "--prune", "0.5", "--data", "."], "--data goes with --quantize alone"),
        (["faces@1", "--fp16", "--quantize"], "--fp16 and --quantize each make a version of their own"),
    ):
        done = subprocess.run([sys.executable, "-m", "aiserve", "export", *args, "--data-dir",
                               str(settings.data_dir)], capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 1, done.stderr
        assert message in done.stderr
    done = subprocess.run([sys.executable, "-m", "aiserve", "export", "faces@1", "--prune", "1.5"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2
    assert "--prune" in done.stderr


def test_one_command_compares_every_variant_and_plots_the_numbers_it_reports(
    settings: Settings, teacher: Trained, alone: Trained, distilled: Trained, pruned: Compressed, sparse: Compressed,
    half: Compressed, tmp_path: Path,
) -> None:  # fmt: skip
    for model in ("faces@1", "faces@1-pruned50"):
        if not (settings.models_dir / f"{model}-int8").exists():
            quantize_model(settings, model, max_drop=100.0)
    out = tmp_path / "compare"
    result = CliRunner().invoke(
        app, ["eval", "faces@1", "--compare", "--out", str(out), "--data-dir", str(settings.data_dir)]
    )

    assert result.exit_code == 0, result.output
    numbers = json.loads((out / "compare.json").read_text())
    kinds = {e["kind"]: e for e in numbers["entries"]}
    assert {"original", "int8", "fp16", "pruned50", "pruned50 + int8", "sparse50", "distilled"} <= set(kinds)
    assert "alone@1" not in {e["model"] for e in numbers["entries"]}  # not made from faces@1
    assert kinds["original"]["agreement"] == 1.0
    assert kinds["original"]["model"] == "faces@1"
    assert kinds["original"]["accuracy"] == pytest.approx(teacher.test.metrics.accuracy if teacher.test else -1)
    assert kinds["distilled"]["size_bytes"] * 10 < kinds["original"]["size_bytes"]
    assert numbers["missing"] == {}
    assert numbers["images"] == 100
    entries = [Entry(**e) for e in numbers["entries"]]
    assert [e.pareto for e in entries] == pareto_front(entries)
    assert any(e.pareto for e in entries)
    assert "| `faces@1-pruned50-int8` | pruned50 + int8 |" in (out / "compare.md").read_text()

    with Image.open(out / "pareto.png") as png:
        plotted = json.loads(png.info[PARETO_METADATA_KEY])["points"]
        pixels = np.asarray(png.convert("RGB"))
    assert [(p["latency_ms"], p["accuracy"], p["pareto"]) for p in plotted] == [
        (e.latency_ms_batch1, e.accuracy, e.pareto) for e in entries
    ]
    colour = {True: (31, 119, 180), False: (127, 127, 127)}  # tab:blue on the front (drawn on top), tab:gray
    for p in plotted:  # a marker is drawn where each reported number puts it
        x, y = (round(v) for v in p["pixel"])
        marker = pixels[y - 2 : y + 3, x - 2 : x + 3].reshape(-1, 3).astype(int)
        near = [o for o in plotted if np.hypot(*np.subtract(o["pixel"], p["pixel"])) < 9]  # itself and overlaps
        assert any(np.abs(marker - colour[o["pareto"]]).sum(axis=1).min() < 30 for o in near), p
    by_latency = sorted(plotted, key=lambda p: p["latency_ms"])
    xs = [p["pixel"][0] for p in by_latency]
    assert xs == sorted(xs)  # further right is slower
    best = max(plotted, key=lambda p: p["accuracy"])
    assert all(best["pixel"][1] <= p["pixel"][1] for p in plotted)  # higher is more accurate

    broken = settings.models_dir / "faces@1-broken"  # a variant whose file was damaged is left out, with why
    shutil.copytree(settings.models_dir / "faces@1-int8", broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    (broken / "manifest.json").write_text(json.dumps({**manifest, "version": "1-broken"}))
    (broken / "model.onnx").write_bytes(b"not onnx")
    try:
        again = compare(settings, "faces@1", out=tmp_path / "again")
    finally:
        shutil.rmtree(broken)
    assert again.skipped["faces@1-broken"].startswith("could not be measured: ")
    assert len(again.entries) == len(entries)

    refused = CliRunner().invoke(app, ["eval", "faces@1", "--compare", "--url", "http://127.0.0.1:9"])
    assert refused.exit_code != 0
    assert "--compare measures the variants' latency here" in str(refused.exception or refused.output)


def test_the_exported_graph_is_the_optimised_one_only_when_it_measured_faster(
    teacher: Trained, report: Callable[[str], None]
) -> None:
    graph = json.loads((teacher.folder / "training.json").read_text())["graph"]
    exported, optimised = graph["nodes"]
    (load, load_optimised), (run, run_optimised) = graph["load_ms"], graph["run_ms"]
    report(f"EfficientNet-Lite0 graph: {exported} → {optimised} nodes, opening {load:.1f} → {load_optimised:.1f} ms, "
           f"batch 1 {run:.2f} → {run_optimised:.2f} ms: kept {graph['kept']}")  # fmt: skip
    assert optimised < exported / 2  # the exporter's padding and shape arithmetic folds away
    faster = load_optimised + run_optimised < load + run
    assert graph["kept"] == ("optimised" if faster else "as exported")
    served = len(onnx.load(str(teacher.folder / "model.onnx")).graph.node)
    assert served == (optimised if faster else exported)
    assert {n.domain for n in onnx.load(str(teacher.folder / "model.onnx")).graph.node} <= {"", "ai.onnx"}
