"""An edge bundle served by a fresh, torch-free install (`pip install ".[edge]"`): the same embeddings and
classifications as the full install, offline; a damaged bundle is refused by name. Prints the install's size on
disk and the server's resident memory after warm-up."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import skimage

from aiserve.bench.server import ServerProcess
from tests.e2e.test_cli import aiserve
from tests.services import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]
COFFEE = base64.b64encode((Path(skimage.__file__).parent / "data" / "coffee.png").read_bytes()).decode()
TEXTS = ["The cat sits on the mat.", "Quarterly revenue grew by 4%."]


@pytest.fixture(scope="module")
def edge_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("edge-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-c", str(ROOT / "requirements" / "constraints.txt"),
                    f"{ROOT}[edge]"], check=True, capture_output=True, timeout=900)  # fmt: skip
    return venv / "bin" / "python"


@pytest.fixture(scope="module")
def bundle(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("bundle") / "edge"
    made = aiserve("export", "--bundle", str(target), "--data-dir", str(data_dir))
    assert made.returncode == 0, made.stderr
    return target


def serve(python: Path, bundle: Path, home: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    """The edge install serving `bundle`; its process, URL and log file."""
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "AISERVE_AUTH__ENABLED": "false", "AISERVE_DATA_DIR": str(home), "HF_HUB_OFFLINE": "1"}
    log = home / "server.log"
    command = [str(python), "-m", "aiserve", "serve", "--bundle", str(bundle), "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=out)
    return process, f"http://127.0.0.1:{port}", log


@pytest.fixture(scope="module")
def edge(edge_python: Path, bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    process, url, log = serve(edge_python, bundle, tmp_path_factory.mktemp("edge-home"))
    deadline = time.monotonic() + 120
    while True:
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the edge server was not ready"
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    yield url, process.pid
    process.terminate()
    process.wait(30)


def test_the_edge_install_has_no_torch(edge_python: Path) -> None:
    found = subprocess.run([str(edge_python), "-c", "import torch"], capture_output=True, text=True)
    assert found.returncode != 0
    assert "No module named 'torch'" in found.stderr


def test_the_bundle_answers_as_the_full_install(
    edge: tuple[str, int], server: ServerProcess, edge_python: Path, report: Callable[[str], None]
) -> None:
    url, pid = edge

    def embed(base: str) -> np.ndarray:
        answer = httpx.post(f"{base}/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": TEXTS}, timeout=600)
        assert answer.status_code == 200, answer.text
        return np.array([item["embedding"] for item in answer.json()["data"]])

    def classify(base: str) -> list[dict[str, object]]:
        answer = httpx.post(f"{base}/v1/classify", json={"image": COFFEE, "top_k": 3}, timeout=600)
        assert answer.status_code == 200, answer.text
        return list(answer.json()["predictions"])

    np.testing.assert_allclose(embed(url), embed(server.url), atol=1e-5)
    edge_top, full_top = classify(url), classify(server.url)
    assert [p["label"] for p in edge_top] == [p["label"] for p in full_top]
    assert edge_top[0]["label"] == "espresso"
    for mine, theirs in zip(edge_top, full_top, strict=True):
        assert abs(float(mine["confidence"]) - float(theirs["confidence"])) < 1e-3  # type: ignore[arg-type]
    for _ in range(20):  # warm
        embed(url)
        classify(url)
    venv = edge_python.parent.parent
    size_mb = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6
    rss_mb = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                  if line.startswith("VmRSS:")) / 1024  # fmt: skip
    report(f"edge: torch-free install {size_mb:.0f} MB on disk; server resident memory after warm-up "
           f"{rss_mb:.0f} MB (embeddings + classifier)")  # fmt: skip


def test_a_damaged_bundle_is_refused_by_name(edge_python: Path, bundle: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged"
    shutil.copytree(bundle, damaged)
    model = damaged / "models" / "efficientnet-lite0@1" / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    process, _, log = serve(edge_python, damaged, tmp_path / "home")
    assert process.wait(60) == 1
    assert f"error: {model} does not match its checksum: the bundle is damaged; export it again" in log.read_text()
