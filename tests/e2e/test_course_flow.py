"""The course's gateway flow on a real server, by configuration alone (`AISERVE_RATELIMIT__REQUESTS_PER_MINUTE=5`):
an admin creates a user and a key with the CLI over the admin API, the key classifies an image, `/v1/usage` (and
`aiserve usage`) count it, the 6th request within the minute gets 429 with `Retry-After`, and the key can still read
its usage."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from aiserve.bench.server import ServerProcess
from tests.e2e.test_cli import aiserve

pytestmark = pytest.mark.e2e

ADMIN = "sk-course-admin-" + "d" * 32


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("course")
    (home / "models").symlink_to(data_dir / "models")
    args = ["--data-dir", str(home), "--model", "efficientnet-lite0"]
    with ServerProcess(args, api_key=ADMIN, env={"AISERVE_RATELIMIT__REQUESTS_PER_MINUTE": "5"}) as proc:
        yield proc


def photo() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (224, 224), (30, 140, 60)).save(buffer, "JPEG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_user_key_classify_usage_and_the_sixth_request(server: ServerProcess, tmp_path: Path) -> None:
    admin = ("--url", server.url, "--api-key", ADMIN)
    assert aiserve("users", "create", "student", "--monthly-requests", "1000", *admin).returncode == 0
    made = aiserve("keys", "create", "--user", "student", "--name", "homework", *admin)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    monitor = aiserve("keys", "create", "--user", "student", "--scopes", "usage:read", *admin).stdout.strip()
    listed = aiserve("keys", "list", "--json", "--user", "student", *admin)  # the admin's 4th request, of 5
    assert listed.returncode == 0, listed.stderr
    assert key not in listed.stdout
    assert [k["prefix"] for k in json.loads(listed.stdout)["data"]] == [key[3:11], monitor[3:11]]
    assert "1000/month" in aiserve("users", "list", *admin).stdout  # the user's limit, the keys' default

    student = {"Authorization": f"Bearer {key}"}
    body = {"image": photo(), "top_k": 3}
    with httpx.Client(base_url=server.url, timeout=600) as http:
        first = http.post("/v1/classify", json=body, headers=student)  # request 1
        assert first.status_code == 200, first.text
        assert len(first.json()["predictions"]) == 3
        assert first.headers["x-ratelimit-remaining-requests"] == "4"
        # the ledger is written in the background; a second key of the same user watches it without spending
        # the first key's limit
        deadline = time.monotonic() + 30
        while True:
            report = http.get("/v1/usage", headers={"Authorization": f"Bearer {monitor}"}).json()
            if report["total_requests"] == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert report["user"] == "student"
        assert report["total_requests"] == report["successful_requests"] == 1
        assert report["success_rate"] == 1.0
        assert report["avg_response_time_ms"] > 0
        assert report["images"] == 1
        assert report["by_model"][0]["model"].startswith("efficientnet-lite0")

        shown = aiserve("usage", "--json", "--url", server.url, "--api-key", key)  # reading usage is not counted
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["total_requests"] == 1
        for _ in range(4):  # requests 2 to 5
            assert http.post("/v1/classify", json=body, headers=student).status_code == 200
        sixth = http.post("/v1/classify", json=body, headers=student)
        assert sixth.status_code == 429
        assert sixth.json()["error"]["code"] == "rate_limit_exceeded"
        assert 1 <= int(sixth.headers["retry-after"]) <= 60
        picture = tmp_path / "photo.jpg"
        picture.write_bytes(base64.b64decode(str(body["image"])))
        refused = aiserve("classify", str(picture), "--url", server.url, "--api-key", key)
        assert refused.returncode == 1
        assert refused.stderr.startswith("error: Rate limit reached for requests: 5 per minute")
        spent = aiserve("usage", "--json", "--url", server.url, "--api-key", key)  # still readable once spent
        assert spent.returncode == 0, spent.stderr
