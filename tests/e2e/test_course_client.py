"""The course's clients: plain `requests` with base64 JSON and a Bearer header, and `curl -F`."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import skimage

from aiserve.bench.server import ServerProcess

pytestmark = pytest.mark.e2e

PHOTOS = Path(skimage.__file__).parent / "data"


def test_requests_client_with_base64_json(server: ServerProcess) -> None:
    image = base64.b64encode((PHOTOS / "coffee.png").read_bytes()).decode()
    response = requests.post(
        f"{server.url}/v1/classify",
        json={"image": image, "filename": "coffee.png"},
        headers={"Authorization": "Bearer sk-course-key"},
        timeout=600,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["predictions"][0]["label"] == "espresso"
    assert len(body["predictions"]) == 5


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_multipart_upload(server: ServerProcess) -> None:
    out = subprocess.run(
        ["curl", "-sS", "-F", f"file=@{PHOTOS / 'chelsea.png'}", f"{server.url}/v1/classify"],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    labels = [p["label"] for p in json.loads(out.stdout)["predictions"]]
    assert labels[0] in {"tabby", "tiger cat", "Egyptian cat"}


def test_doctor_reports_this_machine() -> None:
    out = subprocess.run([sys.executable, "-m", "aiserve", "doctor", "--json"], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["logical_cores"] >= 1
    assert "CPUExecutionProvider" in report["onnxruntime_providers"]
    assert report["recommendations"]
    table = subprocess.run([sys.executable, "-m", "aiserve", "doctor"], capture_output=True, text=True, timeout=120)
    assert "ONNX Runtime providers" in table.stdout
