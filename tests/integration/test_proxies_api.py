"""Behind a trusted proxy the app sees the real client, in the usage ledger, the access log and per-address
limits; a client that is not a trusted proxy cannot claim another address."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from aiserve.app import create_app
from aiserve.usage.db import make_engine, sessions
from aiserve.usage.tables import UsageEvent
from tests.conftest import MakeSettings

pytestmark = pytest.mark.integration

ADMIN = "sk-proxies-admin-" + "p" * 32


def test_the_real_client_behind_a_trusted_proxy(
    make_settings: MakeSettings, tmp_path: Path, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "models").symlink_to(data_dir / "models")
    settings = make_settings(data_dir=tmp_path, models={"enabled": ["all-minilm-l6-v2"]},
                             auth={"enabled": True, "bootstrap_key": ADMIN}, server={"trusted_proxies": ["10.0.0.0/8"]},
                             ratelimit={"ip_requests_per_minute": 3},
                             observability={"access_log": True, "log_level": "info"})  # fmt: skip
    app = create_app(settings)
    body = {"model": "all-minilm-l6-v2", "input": "hello"}
    auth = {"Authorization": f"Bearer {ADMIN}"}

    async def call(peer: str, forwarded: str) -> int:
        transport = httpx.ASGITransport(app=app, client=(peer, 4321))
        async with httpx.AsyncClient(transport=transport, base_url="http://aiserve") as client:
            headers = {**auth, "X-Forwarded-For": forwarded, "X-Forwarded-Proto": "https"}
            answer = await client.post("/v1/embeddings", json=body, headers=headers)
            return answer.status_code

    async def scenario() -> tuple[list[int], list[tuple[str | None, int]]]:
        async with app.router.lifespan_context(app):
            while not app.state.services.registry.ready:
                await asyncio.sleep(0.05)
            codes = [await call("10.0.0.2", "203.0.113.9") for _ in range(4)]  # one client behind the proxy
            codes.append(await call("10.0.0.2", "203.0.113.10"))  # another client behind the same proxy
            codes.append(await call("198.51.100.7", "203.0.113.10"))  # not a proxy: its header is ignored
        engine = make_engine(settings)
        async with sessions(engine)() as session:
            rows = (await session.execute(select(UsageEvent.client_ip, UsageEvent.status))).all()
        await engine.dispose()
        return codes, [(ip, status) for ip, status in rows]

    with caplog.at_level(logging.INFO, logger="aiserve.access"):
        codes, events = asyncio.run(scenario())
    assert codes == [200, 200, 200, 429, 200, 200]  # 3 a minute per real client, not per proxy
    assert sorted(events) == sorted([("203.0.113.9", 200)] * 3 + [("203.0.113.10", 200), ("198.51.100.7", 200)])
    clients = [getattr(record, "client", None) for record in caplog.records if record.name == "aiserve.access"]
    assert "203.0.113.9" in clients
    assert "198.51.100.7" in clients
    assert "10.0.0.2" not in clients
