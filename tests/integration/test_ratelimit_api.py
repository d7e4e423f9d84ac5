"""The course's limit by configuration alone: 5 requests a minute per key, the 6th gets 429 with Retry-After, and
every limited response says where the key stands."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.conftest import MakeSettings
from tests.integration.conftest import running_app

pytestmark = pytest.mark.integration

ADMIN = "sk-test-limits-" + "c" * 32


@pytest.fixture(scope="module")
def client(
    make_settings: MakeSettings, tmp_path_factory: pytest.TempPathFactory, data_dir: Path
) -> Iterator[TestClient]:
    home = tmp_path_factory.mktemp("limits")
    (home / "models").symlink_to(data_dir / "models")
    settings = make_settings(data_dir=home, models={"enabled": ["efficientnet-lite0"]},
                             auth={"enabled": True, "bootstrap_key": ADMIN},
                             ratelimit={"requests_per_minute": 5, "exempt_admin": True})  # fmt: skip
    with running_app(settings) as c:
        yield c


def image() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(buffer, "JPEG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_the_sixth_request_in_a_minute_is_refused(client: TestClient) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    assert client.post("/v1/admin/users", json={"name": "student"}, headers=admin).status_code == 201
    key = client.post("/v1/admin/keys", json={"user": "student"}, headers=admin).json()["key"]
    student = {"Authorization": f"Bearer {key}"}
    body = {"image": image(), "top_k": 3}
    for i in range(5):
        answer = client.post("/v1/classify", json=body, headers=student)
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-ratelimit-limit-requests"] == "5"
        assert answer.headers["x-ratelimit-remaining-requests"] == str(4 - i)
        assert answer.headers["x-ratelimit-reset-requests"].endswith("s")
    refused = client.post("/v1/classify", json=body, headers=student)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert "5 per minute" in refused.json()["error"]["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    # public routes and the exempt admin are not counted
    assert client.get("/health").status_code == 200
    assert "x-ratelimit-limit-requests" not in client.get("/health").headers
    assert all(client.get("/v1/models", headers=admin).status_code == 200 for _ in range(7))
