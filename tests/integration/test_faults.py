"""Faults in the real services, mid-load: Redis killed and started again (failing open or closed as configured, and
limits holding again once it is back), and PostgreSQL restarted (every answered request is in the ledger exactly
once afterwards; keys checked while it was away get 503, never a 500)."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from aiserve.settings import Settings
from aiserve.usage.db import make_engine, sessions
from aiserve.usage.tables import UsageEvent
from tests.conftest import MakeSettings
from tests.integration.conftest import ADMIN_KEY, running_app
from tests.services import RedisServer, postgres_server, redis_instance

pytestmark = pytest.mark.integration

AS_ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def picture() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 90)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


INSPECT = {"image": picture()}


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    with redis_instance() as server:
        yield server


@pytest.fixture
def home(tmp_path: Path, data_dir: Path) -> Path:
    (tmp_path / "models").symlink_to(data_dir / "models")
    return tmp_path


def limited_key(client: TestClient, user: str, per_minute: int) -> dict[str, str]:
    assert client.post("/v1/admin/users", json={"name": user}, headers=AS_ADMIN).status_code == 201
    made = client.post("/v1/admin/keys", json={"user": user, "limits": {"requests_per_minute": per_minute}},
                       headers=AS_ADMIN)  # fmt: skip
    return {"Authorization": f"Bearer {made.json()['key']}"}


def codes(client: TestClient, key: dict[str, str], n: int) -> list[int]:
    return [client.post("/v1/inspect", json=INSPECT, headers=key).status_code for _ in range(n)]


def settings_with(make_settings: MakeSettings, home: Path, **overrides: object) -> Settings:
    return make_settings(data_dir=home, models={"enabled": ["all-minilm-l6-v2"]},
                         auth={"enabled": True, "bootstrap_key": ADMIN_KEY, "cache_s": 30}, **overrides)  # fmt: skip


@pytest.mark.parametrize("fail_open", [True, False], ids=["fail-open", "fail-closed"])
def test_redis_killed_and_started_again(
    make_settings: MakeSettings, home: Path, redis: RedisServer, fail_open: bool
) -> None:
    ratelimit = {"backend": "redis", "redis_url": redis.url, "fail_open": fail_open}
    settings = settings_with(make_settings, home, ratelimit=ratelimit)
    with running_app(settings) as client:
        key = limited_key(client, "limited", 3)
        assert codes(client, key, 4) == [200, 200, 200, 429]
        redis.kill()
        while_down = [client.post("/v1/inspect", json=INSPECT, headers=key) for _ in range(5)]
        if fail_open:
            assert [a.status_code for a in while_down] == [200] * 5  # admitted unlimited, as configured
        else:
            assert [a.status_code for a in while_down] == [503] * 5
            assert all(a.headers["retry-after"] == "1" for a in while_down)
        redis.start()  # empty: what it counted is gone
        deadline = time.monotonic() + 15
        while client.post("/v1/inspect", json=INSPECT, headers=limited_key(client, f"probe{time.monotonic_ns()}",
                                                                            100)).status_code != 200:  # fmt: skip
            assert time.monotonic() < deadline, "the limiter did not reconnect"
            time.sleep(0.2)
        fresh = limited_key(client, "fresh", 3)
        assert codes(client, fresh, 4) == [200, 200, 200, 429]  # the limits hold again
        assert client.get("/ready").status_code == 200


def test_postgresql_restarted_mid_load_loses_and_doubles_nothing(make_settings: MakeSettings, home: Path) -> None:
    with postgres_server() as database:
        settings = settings_with(make_settings, home, database={"url": database.url})
        answered: list[str] = []
        outcomes: Counter[int] = Counter()
        with running_app(settings, key=ADMIN_KEY) as client:
            body = {"model": "all-minilm-l6-v2", "input": "a sentence for the ledger"}

            def send(n: int) -> None:
                for _ in range(n):
                    answer = client.post("/v1/embeddings", json=body)
                    outcomes[answer.status_code] += 1
                    if answer.status_code == 200:
                        answered.append(answer.headers["x-request-id"])

            send(20)
            unseen = limited_key(client, "unseen", 100)  # never used yet, so not in the key cache
            database.stop()
            away = client.post("/v1/embeddings", json=body, headers=unseen)
            assert away.status_code == 503, away.text  # the key cannot be checked: try again, not a 500
            assert away.headers["retry-after"] == "1"
            send(10)  # keys checked before keep working; their events wait for the database
            database.start()
            send(10)  # some while it is still coming back up
            time.sleep(0.5)
            send(20)
        assert outcomes[200] >= 40
        assert set(outcomes) <= {200, 503}
        ledger = asyncio.run(request_ids(settings))
        assert Counter(ledger) == Counter(answered)  # every answered request exactly once


async def request_ids(settings: Settings) -> list[str]:
    engine = make_engine(settings)
    try:
        async with sessions(engine)() as session:
            return [str(r) for r in (await session.scalars(select(UsageEvent.request_id))).all()]
    finally:
        await engine.dispose()
