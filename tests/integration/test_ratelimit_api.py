"""Limits by configuration and per user or key, through the real app: 5 a minute (the 6th request gets 429 with
Retry-After, and the key can still list models and read its usage), tokens per minute with their headers, requests
in flight, monthly quotas that refuse with `insufficient_quota` and survive a restart (counted again from the
ledger), limits changed on the admin API, and keys' last use."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from aiserve.app import create_app
from aiserve.settings import Settings
from tests.conftest import MakeSettings
from tests.integration.conftest import running_app

pytestmark = pytest.mark.integration

ADMIN = "sk-test-limits-" + "c" * 32
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture(scope="module")
def settings(make_settings: MakeSettings, tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Settings:
    home = tmp_path_factory.mktemp("limits")
    (home / "models").symlink_to(data_dir / "models")
    return make_settings(data_dir=home, models={"enabled": ["efficientnet-lite0", "all-minilm-l6-v2"]},
                         auth={"enabled": True, "bootstrap_key": ADMIN, "cache_s": 0},
                         ratelimit={"requests_per_minute": 5, "exempt_admin": True})  # fmt: skip


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with running_app(settings) as c:
        yield c


def image() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(buffer, "JPEG")
    return base64.b64encode(buffer.getvalue()).decode()


BODY = {"image": image(), "top_k": 3}
INSPECT = {"image": BODY["image"]}


def new_key(client: TestClient, user: str, *, user_limits: Any = None, key_limits: Any = None) -> dict[str, str]:
    made = client.post("/v1/admin/users", json={"name": user, "limits": user_limits or {}}, headers=AS_ADMIN)
    assert made.status_code == 201, made.text
    key = client.post("/v1/admin/keys", json={"user": user, "limits": key_limits or {}}, headers=AS_ADMIN)
    assert key.status_code == 201, key.text
    return {"Authorization": f"Bearer {key.json()['key']}"}


def test_the_sixth_request_in_a_minute_is_refused(client: TestClient) -> None:
    student = new_key(client, "student")
    for i in range(5):
        answer = client.post("/v1/classify", json=BODY, headers=student)
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-ratelimit-limit-requests"] == "5"
        assert answer.headers["x-ratelimit-remaining-requests"] == str(4 - i)
        assert answer.headers["x-ratelimit-reset-requests"].endswith("s")
        assert "x-ratelimit-limit-tokens" not in answer.headers  # no token limit is set
    refused = client.post("/v1/classify", json=BODY, headers=student)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert "5 per minute" in refused.json()["error"]["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    # public routes and the exempt admin are not counted
    assert client.get("/health").status_code == 200
    assert "x-ratelimit-limit-requests" not in client.get("/health").headers
    assert all(client.post("/v1/inspect", json=INSPECT, headers=AS_ADMIN).status_code == 200 for _ in range(7))


def test_a_key_that_spent_its_limit_can_still_list_models_and_read_its_usage(client: TestClient) -> None:
    key = new_key(client, "spender")
    while (answer := client.post("/v1/classify", json=BODY, headers=key)).status_code == 200:
        pass
    assert answer.status_code == 429
    for _ in range(8):  # more than the 5 a minute: none of these is metered
        listed = client.get("/v1/models", headers=key)
        assert listed.status_code == 200, listed.text
        assert "x-ratelimit-limit-requests" not in listed.headers
        assert client.get("/v1/models/efficientnet-lite0", headers=key).status_code == 200
        usage = client.get("/v1/usage", headers=key)
        assert usage.status_code == 200, usage.text
    assert client.post("/v1/inspect", json=INSPECT, headers=key).status_code == 429  # a model route still is


def test_a_route_that_uses_no_tokens_is_not_held_back_by_a_spent_token_limit(client: TestClient) -> None:
    key = new_key(client, "inspector", key_limits={"tokens_per_minute": 90, "requests_per_minute": 100})
    assert client.post("/v1/classify", json=BODY, headers=key).status_code == 200  # 85 of 90
    assert client.post("/v1/classify", json=BODY, headers=key).status_code == 429  # 5 left: not an image
    inspected = client.post("/v1/inspect", json=INSPECT, headers=key)
    assert inspected.status_code == 200, inspected.text
    assert inspected.headers["x-ratelimit-limit-requests"] == "100"
    assert "x-ratelimit-limit-tokens" not in inspected.headers


def test_tokens_per_minute_count_images_and_refuse_once_spent(client: TestClient) -> None:
    # 85 tokens an image, held back before it runs: 200 admits two images (0 and 85 used before each) and refuses
    # the third, which would pass the limit (170 + 85 > 200)
    key = new_key(client, "tokens", key_limits={"tokens_per_minute": 200, "requests_per_minute": 100})
    remaining = []
    for _ in range(2):
        answer = client.post("/v1/classify", json=BODY, headers=key)
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-ratelimit-limit-tokens"] == "200"
        assert answer.headers["x-ratelimit-limit-requests"] == "100"  # the key's own, over the server's 5
        remaining.append(int(answer.headers["x-ratelimit-remaining-tokens"]))
    assert remaining == [200, 115]
    refused = client.post("/v1/classify", json=BODY, headers=key)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert refused.json()["error"]["type"] == "tokens"
    assert refused.headers["x-ratelimit-remaining-tokens"] == "30"  # left, but less than an image
    assert 1 <= int(refused.headers["retry-after"]) <= 60


def test_embedded_tokens_count_against_tokens_per_minute(client: TestClient) -> None:
    key = new_key(client, "embedder", key_limits={"tokens_per_minute": 20, "requests_per_minute": 100})
    body = {"model": "all-minilm-l6-v2", "input": "the quick brown fox jumps over the lazy dog"}
    first = client.post("/v1/embeddings", json=body, headers=key)
    assert first.status_code == 200, first.text
    used = first.json()["usage"]["prompt_tokens"]
    assert 5 < used < 20
    second = client.post("/v1/embeddings", json=body, headers=key)
    assert int(second.headers["x-ratelimit-remaining-tokens"]) == 20 - used
    refused = client.post("/v1/embeddings", json=body, headers=key)  # 2 x used are spent: none left
    assert refused.status_code == 429
    assert "Rate limit reached for tokens: 20 per minute" in refused.json()["error"]["message"]


def test_user_limits_are_the_defaults_for_their_keys_and_change_on_the_admin_api(client: TestClient) -> None:
    key = new_key(client, "team", user_limits={"requests_per_minute": 2})
    assert client.post("/v1/inspect", json=INSPECT, headers=key).headers["x-ratelimit-limit-requests"] == "2"
    keys = client.get("/v1/admin/keys", params={"user": "team"}, headers=AS_ADMIN).json()["data"]
    changed = client.patch(f"/v1/admin/keys/{keys[0]['id']}/limits", json={"requests_per_minute": 50},
                           headers=AS_ADMIN)  # fmt: skip
    assert changed.status_code == 200
    assert changed.json()["limits"]["requests_per_minute"] == 50
    assert client.post("/v1/inspect", json=INSPECT, headers=key).headers["x-ratelimit-limit-requests"] == "50"
    cleared = client.patch(f"/v1/admin/keys/{keys[0]['id']}/limits", json={"requests_per_minute": None},
                           headers=AS_ADMIN)  # fmt: skip
    assert cleared.json()["limits"]["requests_per_minute"] is None
    user = client.patch("/v1/admin/users/team/limits", json={"requests_per_minute": 7}, headers=AS_ADMIN)
    assert user.json()["limits"]["requests_per_minute"] == 7
    assert client.post("/v1/inspect", json=INSPECT, headers=key).headers["x-ratelimit-limit-requests"] == "7"
    bad = client.patch("/v1/admin/users/team/limits", json={"requests_per_minute": 0}, headers=AS_ADMIN)
    assert bad.status_code == 422


def test_token_limits_hold_under_concurrency(settings: Settings) -> None:
    """Eight requests at once while one token is left: none is admitted (each holds back its tokens before it runs),
    and concurrent requests never use more than the limit between them."""
    app = create_app(settings)
    sentence = {"model": "all-minilm-l6-v2", "input": "the quick brown fox jumps over the lazy dog"}

    async def scenario() -> tuple[list[int], list[int], int]:
        async with app.router.lifespan_context(app):
            while not app.state.services.registry.ready:
                await asyncio.sleep(0.05)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://aiserve", timeout=60) as http:
                admin = {"Authorization": f"Bearer {ADMIN}"}
                await http.post("/v1/admin/users", json={"name": "burst"}, headers=admin)
                made = await http.post("/v1/admin/keys", json={"user": "burst", "limits": {
                    "tokens_per_minute": 100, "requests_per_minute": 1000}}, headers=admin)  # fmt: skip
                key = {"Authorization": f"Bearer {made.json()['key']}"}
                burst = await asyncio.gather(*(http.post("/v1/embeddings", json=sentence, headers=key)
                                               for _ in range(16)))  # fmt: skip
                used = sum(r.json()["usage"]["prompt_tokens"] for r in burst if r.status_code == 200)
                left = int(burst[0].headers.get("x-ratelimit-limit-tokens", "0")) - used
                spend = {"model": "all-minilm-l6-v2", "input": "word " * max(left - 3, 1)}
                while (r := await http.post("/v1/embeddings", json=spend, headers=key)).status_code == 200:
                    used += r.json()["usage"]["prompt_tokens"]
                    spend = {"model": "all-minilm-l6-v2", "input": "word"}
                late = await asyncio.gather(*(http.post("/v1/embeddings", json=sentence, headers=key)
                                              for _ in range(8)))  # fmt: skip
                return [r.status_code for r in burst], [r.status_code for r in late], used

    burst, late, used = asyncio.run(scenario())
    assert 0 < burst.count(200) < 16  # some fit in 100 tokens, the rest were refused before they ran
    assert set(burst) == {200, 429}
    assert used <= 100  # never more than the limit, though sixteen arrived at once
    assert late == [429] * 8  # with fewer tokens left than one sentence, none is admitted


def test_a_slot_in_flight_is_given_back_when_the_answer_is_done(client: TestClient) -> None:
    key = new_key(client, "serial", key_limits={"max_concurrent": 1, "requests_per_minute": 100})
    assert all(client.post("/v1/classify", json=BODY, headers=key).status_code == 200 for _ in range(6))
    assert client.post("/v1/classify", json={"image": "not base64"}, headers=key).status_code == 400
    assert client.post("/v1/classify", json=BODY, headers=key).status_code == 200  # a failure frees it too


def test_a_monthly_quota_refuses_with_insufficient_quota_even_after_a_restart(
    client: TestClient, settings: Settings
) -> None:
    key = new_key(client, "monthly", key_limits={"monthly_requests": 3, "requests_per_minute": 100})
    for _ in range(3):
        assert client.post("/v1/classify", json=BODY, headers=key).status_code == 200
    spent = client.post("/v1/classify", json=BODY, headers=key)
    assert spent.status_code == 429
    assert spent.json()["error"]["code"] == "insufficient_quota"
    assert spent.json()["error"]["type"] == "insufficient_quota"
    assert "3 requests" in spent.json()["error"]["message"]
    assert int(spent.headers["retry-after"]) <= 31 * 86400
    # another server on the same database starts with an empty limiter: the ledger's count carries over (once
    # the running one has written it; a graceful stop writes everything)
    deadline = time.monotonic() + 10
    while client.get("/v1/usage", params={"user": "monthly"}, headers=AS_ADMIN).json()["total_requests"] < 4:
        assert time.monotonic() < deadline, "the ledger was not written"
        time.sleep(0.1)
    with running_app(settings) as restarted:
        again = restarted.post("/v1/classify", json=BODY, headers=key)
        assert again.status_code == 429
        assert again.json()["error"]["code"] == "insufficient_quota"


def test_keys_show_when_they_were_last_used(client: TestClient) -> None:
    key = new_key(client, "seen")
    listed = client.get("/v1/admin/keys", params={"user": "seen"}, headers=AS_ADMIN).json()["data"]
    assert listed[0]["last_used_at"] is None
    assert client.get("/v1/models", headers=key).status_code == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        listed = client.get("/v1/admin/keys", params={"user": "seen"}, headers=AS_ADMIN).json()["data"]
        if listed[0]["last_used_at"] is not None:
            break
        time.sleep(0.1)
    assert listed[0]["last_used_at"] is not None
