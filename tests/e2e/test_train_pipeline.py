"""The whole path in one test, through the CLI and a live server: digits folder → `aiserve train` → `aiserve eval`
→ `aiserve export --quantize` → `aiserve models load` with an admin key → `/v1/classify`, then an alias moved to
the int8 version without the client changing its model name."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from aiserve.bench.server import ServerProcess
from aiserve.training.report import CONFUSION_DPI, CONFUSION_METADATA_KEY, confusion_figsize
from tests.datasets import write_digits

pytestmark = pytest.mark.e2e

ADMIN_KEY = "sk-aiserve-train-pipeline-admin-0123456789"


def aiserve(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "aiserve", *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"aiserve {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def test_digits_from_folder_to_api(tmp_path: Path, report: Callable[[str], None]) -> None:
    digits = write_digits(tmp_path / "digits")
    data = tmp_path / "data"
    models = data / "models"

    trained = aiserve(
        "train",
        str(digits),
        "--name",
        "digits",
        "--arch",
        "small-cnn",
        "--epochs",
        "15",
        "--seed",
        "0",
        "--data-dir",
        str(data),
    )
    assert "saved digits@1" in trained.stdout
    assert "1259" in trained.stdout  # the summary's training count: 70 % of each class of 1,797
    training = json.loads((models / "digits@1" / "training.json").read_text())
    assert training["test_accuracy"] >= 0.95
    assert (models / "digits@1" / "checkpoints" / "best.pt").is_file()
    assert (models / "digits@1" / "training.png").is_file()

    aiserve("eval", "digits@1", "--data-dir", str(data))
    folder = models / "digits@1" / "eval"
    evaluation = json.loads((folder / "report.json").read_text())
    matrix = np.array(evaluation["metrics"]["matrix"])
    assert matrix.shape == (10, 10)
    assert matrix.sum() == 269
    assert evaluation["metrics"]["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    assert evaluation["metrics"]["accuracy"] == pytest.approx(training["test_accuracy"])
    png = Image.open(folder / "confusion.png")
    width, height = confusion_figsize(10)
    assert png.size == (round(width * CONFUSION_DPI), round(height * CONFUSION_DPI))
    drawn = json.loads(png.text[CONFUSION_METADATA_KEY])  # type: ignore[attr-defined]
    assert drawn["matrix"] == matrix.tolist()
    assert drawn["labels"] == [str(d) for d in range(10)]
    assert "accuracy" in (folder / "report.md").read_text().lower()

    held_out = json.loads((models / "digits@1" / "split.json").read_text())["test"]
    sevens = [Path(path) for path, label in held_out if label == "7"][:12]
    env = {"AISERVE_MODELS__ENABLED": "[]"}
    with ServerProcess(["--data-dir", str(data), "--log-level", "warning"], api_key=ADMIN_KEY, env=env) as server:
        key = ("--url", server.url, "--api-key", ADMIN_KEY)
        assert "loaded: digits (version 1," in aiserve("models", "load", "digits@1", *key).stdout
        # quantised while the server runs: it finds the new version on disk when asked to load it
        quantized = aiserve("export", "digits@1", "--quantize", "--data-dir", str(data))
        assert "saved digits@1-int8" in quantized.stdout
        numbers = json.loads((models / "digits@1-int8" / "compression.json").read_text())
        fp32, int8 = numbers["original"], numbers["compressed"]
        assert fp32["accuracy"] == pytest.approx(training["test_accuracy"])
        assert fp32["accuracy"] - int8["accuracy"] <= 0.01
        assert int8["size_bytes"] < fp32["size_bytes"] / 2
        assert all(v["latency_ms_batch1"] > 0 and v["latency_ms_batch16"] > 0 for v in (fp32, int8))
        report(
            f"digits, small CNN: test accuracy fp32 {fp32['accuracy']:.2%}, int8 {int8['accuracy']:.2%}, "
            f"top-1 agreement {numbers['agreement']:.2%}, size {fp32['size_bytes']} → {int8['size_bytes']} bytes, "
            f"batch 16 {fp32['latency_ms_batch16']:.2f} → {int8['latency_ms_batch16']:.2f} ms"
        )
        assert "loaded: digits@1-int8 (version 1-int8," in aiserve("models", "load", "digits@1-int8", *key).stdout
        # the served model, evaluated through the API, scores what the in-process comparison measured
        aiserve("eval", "digits@1-int8", *key, "--out", str(tmp_path / "served"), "--data-dir", str(data))
        served = json.loads((tmp_path / "served" / "report.json").read_text())
        assert served["metrics"]["accuracy"] == pytest.approx(int8["accuracy"])
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=600) as client:

            def classify(model: str, path: Path) -> tuple[str, str]:
                image = base64.b64encode(path.read_bytes()).decode()
                response = client.post("/v1/classify", json={"image": image, "model": model})
                assert response.status_code == 200, response.text
                body = response.json()
                return body["model"], body["predictions"][0]["label"]

            answers = [classify("digits@1-int8", path) for path in sevens]
            assert {model for model, _ in answers} == {"digits@1-int8"}
            assert sum(label == "7" for _, label in answers) >= 11

            # clients keep calling "digits"; the admin moves it from fp32 to int8
            assert classify("digits", sevens[0])[0] == "digits"  # the first version loaded
            aiserve("models", "alias", "digits", "digits@1-int8", *key)
            assert classify("digits", sevens[0]) == ("digits@1-int8", "7")


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({}, "error: No images in"),
        ({"cat": 3}, "has one class ('cat'); a classifier needs at least two"),
        ({"cat": 3, "dog": 0}, "error: No readable images for class 'dog'"),
    ],
    ids=["empty-folder", "one-class", "empty-class"],
)
def test_a_bad_dataset_is_one_clear_line(tmp_path: Path, layout: dict[str, int], message: str) -> None:
    root = tmp_path / "ds"
    root.mkdir()
    for label, n in layout.items():
        (root / label).mkdir()
        for i in range(n):
            Image.new("RGB", (16, 16), (i * 40, 0, 0)).save(root / label / f"{i}.png")
    done = subprocess.run(
        [sys.executable, "-m", "aiserve", "train", str(root), "--name", "bad", "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data" / "models").exists() or not any((tmp_path / "data" / "models").iterdir())
