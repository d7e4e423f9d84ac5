"""Safe switches and values that fit the ledger: with authentication off the admin routes stay closed; admin routes
are never metered, so a quota on the admin user cannot lock every admin out; a request id too long for the ledger is
replaced; a forwarded address that is not an address is ignored."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select

from aiserve.app import create_app
from aiserve.usage.db import make_engine, sessions
from aiserve.usage.tables import UsageEvent
from tests.conftest import MakeSettings
from tests.integration.conftest import ADMIN_AUTH, ADMIN_KEY, running_app

pytestmark = pytest.mark.integration

AS_ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
EMBED = {"model": "all-minilm-l6-v2", "input": "hello there"}


@pytest.fixture
def home(tmp_path: Path, data_dir: Path) -> Path:
    (tmp_path / "models").symlink_to(data_dir / "models")
    return tmp_path


def test_with_authentication_off_the_admin_routes_stay_closed(make_settings: MakeSettings, home: Path) -> None:
    settings = make_settings(data_dir=home, models={"enabled": ["all-minilm-l6-v2"]})
    assert not settings.auth.enabled
    with running_app(settings) as client:
        assert client.post("/v1/embeddings", json=EMBED).status_code == 200  # the rest is open
        assert client.get("/v1/models").status_code == 200
        for method, path in [("GET", "/v1/admin/keys"), ("POST", "/v1/admin/users"), ("GET", "/v1/admin/aliases"),
                             ("POST", "/v1/admin/models/unload"), ("DELETE", "/v1/admin/keys/1")]:  # fmt: skip
            refused = client.request(method, path, json={"name": "mallory", "model": "all-minilm-l6-v2"})
            assert refused.status_code == 403, (method, path, refused.text)
            assert refused.json()["error"]["code"] == "insufficient_scope"
            assert "authentication is off" in refused.json()["error"]["message"]
        assert client.get("/v1/models/all-minilm-l6-v2").json()["status"] == "ready"  # nothing was unloaded


def test_a_quota_on_the_admin_user_cannot_lock_the_admins_out(make_settings: MakeSettings, home: Path) -> None:
    settings = make_settings(data_dir=home, models={"enabled": ["all-minilm-l6-v2"]}, auth=ADMIN_AUTH)
    with running_app(settings, key=ADMIN_KEY) as client:
        limited = client.patch("/v1/admin/users/admin/limits", json={"monthly_requests": 1, "requests_per_minute": 1})
        assert limited.status_code == 200, limited.text
        assert client.post("/v1/embeddings", json=EMBED).status_code == 200
        assert client.post("/v1/embeddings", json=EMBED).status_code == 429  # the admin's model calls are limited
        for _ in range(3):  # its admin routes are not: it can undo the limit
            assert client.get("/v1/admin/users").status_code == 200
            assert client.get("/v1/usage").status_code == 200
        undone = client.patch("/v1/admin/users/admin/limits", json={"monthly_requests": None,
                                                                     "requests_per_minute": None})  # fmt: skip
        assert undone.status_code == 200, undone.text


def test_values_too_long_for_the_ledger_never_reach_it(make_settings: MakeSettings, home: Path) -> None:
    settings = make_settings(data_dir=home, models={"enabled": ["all-minilm-l6-v2"]}, auth=ADMIN_AUTH,
                             server={"trusted_proxies": ["10.0.0.0/8"]})  # fmt: skip
    app = create_app(settings)
    long_id = "r" * 100

    async def scenario() -> tuple[list[str], list[tuple[str, str | None, str]]]:
        transport = httpx.ASGITransport(app=app, client=("10.0.0.2", 4321))
        ids = []
        async with app.router.lifespan_context(app):
            while not app.state.services.registry.ready:
                await asyncio.sleep(0.05)
            async with httpx.AsyncClient(transport=transport, base_url="http://aiserve") as client:
                for request_id, forwarded in [(long_id, "203.0.113.9"), ("ok-id", "x" * 300 + "\n"),
                                              ("ok-2", "203.0.113.10")]:  # fmt: skip
                    headers = {**AS_ADMIN, "x-request-id": request_id, "X-Forwarded-For": forwarded}
                    answer = await client.post("/v1/embeddings", json=EMBED, headers=headers)
                    assert answer.status_code == 200, answer.text
                    ids.append(answer.headers["x-request-id"])
        engine = make_engine(settings)
        deadline = time.monotonic() + 10
        while True:
            async with sessions(engine)() as session:
                rows = (await session.execute(select(UsageEvent.request_id, UsageEvent.client_ip,
                                                     UsageEvent.route))).all()  # fmt: skip
            if len(rows) == 3 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        await engine.dispose()
        return ids, [(str(r), ip, str(route)) for r, ip, route in rows]

    ids, rows = asyncio.run(scenario())
    assert ids[0] != long_id  # replaced by our own
    assert 0 < len(ids[0]) <= 64
    assert ids[1:] == ["ok-id", "ok-2"]
    assert sorted(rows) == sorted([(ids[0], "203.0.113.9", "/v1/embeddings"), ("ok-id", "10.0.0.2", "/v1/embeddings"),
                                   ("ok-2", "203.0.113.10", "/v1/embeddings")])  # fmt: skip


BAD_BODIES = [b'{"image": "\xff\xfe", "input": "\xc3\x28", "model": "\xed\xa0\x80"}', b"\xff\xfe\xfd", b"\x00" * 64,
              b'{"a": ' * 5000, b"[" * 100_000, b'"\\ud800"']  # fmt: skip


def test_no_undecodable_body_gets_a_server_error_on_any_route(make_settings: MakeSettings, home: Path) -> None:
    settings = make_settings(data_dir=home, models={"enabled": ["all-minilm-l6-v2"]}, auth=ADMIN_AUTH)
    with running_app(settings, key=ADMIN_KEY) as client:
        operations = [(method, path.replace("{", "").replace("}", ""))
                      for path, methods in client.get("/openapi.json").json()["paths"].items()
                      for method, op in methods.items() if "requestBody" in op]  # fmt: skip
        assert len(operations) >= 12
        for method, path in operations:
            for body in BAD_BODIES:
                for kind in ("application/json", "multipart/form-data; boundary=x"):
                    answer = client.request(method, path, content=body, headers={"content-type": kind})
                    assert 400 <= answer.status_code < 500, (method, path, body[:20], kind, answer.text[:200])
                    error = answer.json()["error"]
                    assert error["type" if path.startswith("/v1/messages") else "code"], (method, path)  # Anthropic's
        assert client.get("/ready").status_code == 200


@pytest.mark.parametrize("bad", ["line\nbreak", "tab\there", "escape\x1b[2J", "nul\x00", "bell\x07"])
def test_names_with_control_characters_are_refused(make_settings: MakeSettings, home: Path, bad: str) -> None:
    settings = make_settings(data_dir=home, models={"enabled": ["all-minilm-l6-v2"]}, auth=ADMIN_AUTH)
    with running_app(settings, key=ADMIN_KEY) as client:
        user = client.post("/v1/admin/users", json={"name": bad})
        assert user.status_code == 422, user.text
        assert user.json()["error"]["param"] == "name"
        assert client.post("/v1/admin/users", json={"name": "ok"}).status_code == 201
        key = client.post("/v1/admin/keys", json={"user": "ok", "name": bad})
        assert key.status_code == 422, key.text
        alias = client.put(f"/v1/admin/aliases/{quote(bad, safe='')}", json={"model": "all-minilm-l6-v2"})
        assert alias.status_code in (400, 404), alias.text  # a newline does not even match the route
        assert alias.json()["error"]["param" if alias.status_code == 400 else "code"] in ("alias", "not_found")
        assert client.get("/v1/admin/aliases").json()["data"] == []
        assert client.put("/v1/admin/aliases/%20spaced%20", json={"model": "all-minilm-l6-v2"}).status_code == 400


def test_limits_past_a_database_column_are_refused(make_settings: MakeSettings, home: Path) -> None:
    """Found by the fuzzer: a limit of 2**63 or more was a 500 (SQLite's INTEGER overflowed) on every admin route
    that writes limits."""
    settings = make_settings(data_dir=home, models={"enabled": ["all-minilm-l6-v2"]}, auth=ADMIN_AUTH)
    with running_app(settings, key=ADMIN_KEY) as client:
        huge = {"monthly_tokens": 2**63}
        user = client.post("/v1/admin/users", json={"name": "big", "limits": huge})
        assert user.status_code == 422, user.text
        assert user.json()["error"]["param"] == "limits.monthly_tokens"
        assert (
            client.post("/v1/admin/users", json={"name": "big", "limits": {"monthly_tokens": 10**15}}).status_code
            == 201
        )
        made = client.post("/v1/admin/keys", json={"user": "big"}).json()
        assert client.patch(f"/v1/admin/keys/{made['id']}/limits", json=huge).status_code == 422
        assert client.patch("/v1/admin/users/big/limits", json={"requests_per_minute": 10**16}).status_code == 422
        assert client.patch("/v1/admin/users/big/limits", json={"requests_per_minut": 5}).status_code == 422
        # found by the fuzzer: "²" is a digit to str.isdigit but not to int(), and was a 500
        for route in ("/v1/admin/keys/%C2%B2", "/v1/admin/keys/%D9%A3"):
            assert client.delete(route).status_code == 404
            assert client.patch(f"{route}/limits", json={}).status_code == 404
        assert client.get("/ready").status_code == 200


def test_admin_answers_keep_their_documented_shape(make_settings: MakeSettings, home: Path) -> None:
    """Found by fuzzing: a key id past 64 bits was a server error, and times read back from SQLite had no zone."""
    settings = make_settings(data_dir=home, models={"enabled": ["all-minilm-l6-v2"]}, auth=ADMIN_AUTH)
    with running_app(settings, key=ADMIN_KEY) as client:
        huge = client.delete("/v1/admin/keys/" + "9" * 30)
        assert huge.status_code == 404, huge.text
        assert huge.json()["error"]["code"] == "not_found"
        keys = client.get("/v1/admin/keys").json()["data"]
        users = client.get("/v1/admin/users").json()["data"]
        for moment in [keys[0]["created_at"], users[0]["created_at"]]:
            assert moment.endswith("Z") or moment[-6] in "+-", moment  # RFC 3339: the zone is part of it
