"""Three servers sharing one PostgreSQL and one Redis, as replicas behind a load balancer: one exact limit for a
key across them, one ledger event for every answered request, and a revocation that all of them honour."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from aiserve.bench.server import ServerProcess
from aiserve.settings import load_settings
from aiserve.usage.db import make_engine, sessions
from aiserve.usage.tables import UsageEvent
from tests.services import postgres, redis_server

pytestmark = pytest.mark.e2e

ADMIN = "sk-replicas-admin-" + "e" * 32


@pytest.fixture(scope="module")
def cluster(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[ServerProcess], str]]:
    with postgres() as database, redis_server() as redis, ExitStack() as stack:
        env = {"AISERVE_DATABASE__URL": database, "AISERVE_RATELIMIT__BACKEND": "redis",
               "AISERVE_RATELIMIT__REDIS_URL": redis, "AISERVE_RATELIMIT__FAIL_OPEN": "false",
               "AISERVE_RATELIMIT__REQUESTS_PER_MINUTE": "100", "AISERVE_RATELIMIT__EXEMPT_ADMIN": "true"}  # fmt: skip
        servers = []
        for i in range(3):  # one after another: the first migrates the empty database and makes the admin key
            home = tmp_path_factory.mktemp(f"replica{i}")
            (home / "models").symlink_to(data_dir / "models")
            args = ["--data-dir", str(home), "--model", "all-minilm-l6-v2"]
            servers.append(stack.enter_context(ServerProcess(args, api_key=ADMIN, env=env)))
        yield servers, database


def count_events(database: str) -> dict[int, int]:
    async def count() -> dict[int, int]:
        engine = make_engine(load_settings(database={"url": database}))
        async with sessions(engine)() as session:
            rows = (await session.execute(select(UsageEvent.status, func.count()).group_by(UsageEvent.status))).all()
        await engine.dispose()
        return {int(status): int(n) for status, n in rows}

    return asyncio.run(count())


def test_one_limit_one_ledger_and_one_revocation_across_three_replicas(
    cluster: tuple[list[ServerProcess], str],
) -> None:
    servers, database = cluster
    admin = {"Authorization": f"Bearer {ADMIN}"}
    assert httpx.post(f"{servers[0].url}/v1/admin/users", json={"name": "app"}, headers=admin).status_code == 201
    made = httpx.post(f"{servers[1].url}/v1/admin/keys", json={"user": "app"}, headers=admin)
    key = made.json()["key"]
    limited = httpx.post(f"{servers[2].url}/v1/admin/keys", json={"user": "app"}, headers=admin).json()["key"]

    urls = itertools.cycle([s.url for s in servers])
    body = {"model": "all-minilm-l6-v2", "input": "a short sentence"}

    def send(url: str) -> httpx.Response:
        return httpx.post(
            f"{url}/v1/embeddings", json=body, headers={"Authorization": f"Bearer {limited}"}, timeout=600
        )

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(send, [next(urls) for _ in range(1000)]))
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == 100
    assert statuses.count(429) == 900
    assert all(1 <= int(a.headers["retry-after"]) <= 60 for a in answers if a.status_code == 429)
    assert all(a.json()["error"]["code"] == "rate_limit_exceeded" for a in answers if a.status_code == 429)

    # a revocation made through one replica is honoured by all three
    for server in servers:
        assert httpx.get(f"{server.url}/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert httpx.delete(f"{servers[0].url}/v1/admin/keys/{key[3:11]}", headers=admin).status_code == 200
    deadline = time.monotonic() + 10
    while any(httpx.get(f"{s.url}/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code != 401
              for s in servers):  # fmt: skip
        assert time.monotonic() < deadline, "a replica kept accepting a revoked key"
        time.sleep(0.05)

    for server in servers:  # a graceful stop writes every pending event
        server.stop()
    assert count_events(database) == {200: 100, 429: 900}
