"""The usage ledger: one event per answered model request, successes and failures alike, written off the request
path and all of it by a graceful stop; `/v1/usage` reports it with the course's fields."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from aiserve.usage.db import make_engine, sessions
from aiserve.usage.tables import UsageEvent
from tests.conftest import MakeSettings
from tests.integration.conftest import running_app

pytestmark = pytest.mark.integration

ADMIN = "sk-test-usage-" + "d" * 32


def jpeg() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 120, 240)).save(buffer, "JPEG")
    return base64.b64encode(buffer.getvalue()).decode()


def report(client: TestClient, headers: dict[str, str], total: int, **params: Any) -> dict[str, Any]:
    """The report once the ledger holds `total` requests (it is written within a second)."""
    deadline = time.monotonic() + 10
    while True:
        answer = client.get("/v1/usage", headers=headers, params=params)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if body["total_requests"] >= total or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def count_events(settings_home: Path, make_settings: MakeSettings) -> int:
    async def count() -> int:
        engine = make_engine(make_settings(data_dir=settings_home))
        async with sessions(engine)() as session:
            n = await session.scalar(select(func.count()).select_from(UsageEvent))
        await engine.dispose()
        return int(n or 0)

    return asyncio.run(count())


def test_every_answered_request_is_counted_and_reported(
    make_settings: MakeSettings, tmp_path: Path, data_dir: Path
) -> None:
    (tmp_path / "models").symlink_to(data_dir / "models")
    settings = make_settings(data_dir=tmp_path, models={"enabled": ["efficientnet-lite0", "all-minilm-l6-v2"]},
                             auth={"enabled": True, "bootstrap_key": ADMIN})  # fmt: skip
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with running_app(settings) as client:
        client.post("/v1/admin/users", json={"name": "course"}, headers=admin)
        key = client.post("/v1/admin/keys", json={"user": "course"}, headers=admin).json()["key"]
        mine = {"Authorization": f"Bearer {key}"}
        for _ in range(3):
            assert client.post("/v1/classify", json={"image": jpeg()}, headers=mine).status_code == 200
        assert client.post("/v1/classify", json={"image": "bm90IGFuIGltYWdl"}, headers=mine).status_code == 400
        body = {"model": "all-minilm-l6-v2", "input": ["hello world", "good morning"]}
        assert client.post("/v1/embeddings", json=body, headers=mine).status_code == 200
        assert client.get("/v1/models", headers=mine).status_code == 200  # not a model route: not in the ledger
        usage = report(client, mine, 5)
        assert usage["user"] == "course"
        assert usage["total_requests"] == 5
        assert usage["successful_requests"] == 4
        assert usage["success_rate"] == pytest.approx(0.8)
        assert usage["avg_response_time_ms"] > 0
        assert usage["images"] == 3
        assert usage["input_tokens"] == 8  # the two sentences, with their special tokens
        models = {m["model"]: m for m in usage["by_model"]}
        assert models["efficientnet-lite0@1"]["requests"] == 4  # the undecodable image counts as a failed request
        assert models["efficientnet-lite0@1"]["successful_requests"] == 3
        assert models["efficientnet-lite0@1"]["images"] == 3
        assert models["all-minilm-l6-v2@1"]["input_tokens"] == 8
        assert len(usage["by_day"]) == 1
        assert usage["by_day"][0]["requests"] == 5
        future = report(client, mine, 0, start="2999-01-01T00:00:00Z")
        assert future["total_requests"] == 0
        assert client.get("/v1/usage", headers=mine, params={"user": "admin"}).status_code == 403
        by_key = report(client, admin, 5, key=key[3:11])
        assert by_key["key"] == key[3:11]
        assert by_key["total_requests"] == 5
        assert report(client, admin, 5, user="course")["total_requests"] == 5
        for _ in range(20):  # answered just before the stop: the stop writes them
            client.post("/v1/classify", json={"image": jpeg()}, headers=mine)
    assert count_events(tmp_path, make_settings) == 25
