"""Deny by default, on the real app: every route outside the public list needs a valid key with the right scope;
the first start makes one admin key and shows it once."""

from __future__ import annotations

import asyncio
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aiserve.app import create_app
from aiserve.usage import repository
from aiserve.usage.db import make_engine, sessions
from tests.conftest import MakeSettings
from tests.integration.conftest import running_app

pytestmark = pytest.mark.integration

ADMIN = "sk-test-admin-" + "a" * 32


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A data directory of its own (an empty database), sharing the prepared models."""
    path = tmp_path_factory.mktemp("auth")
    (path / "models").symlink_to(data_dir / "models")
    return path


@pytest.fixture(scope="module")
def client(make_settings: MakeSettings, app_dir: Path) -> Iterator[TestClient]:
    settings = make_settings(data_dir=app_dir, models={"enabled": ["all-minilm-l6-v2"]},
                             auth={"enabled": True, "bootstrap_key": ADMIN, "cache_s": 0.2})  # fmt: skip
    with running_app(settings) as c:
        yield c


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def make_key(app_dir: Path, make_settings: MakeSettings, scopes: tuple[str, ...]) -> str:
    async def work() -> str:
        engine = make_engine(make_settings(data_dir=app_dir))
        async with sessions(engine)() as session, session.begin():
            user = await repository.create_user(session, name=f"user-{time.monotonic_ns()}")
            _, plaintext = await repository.create_key(session, user=user, scopes=scopes)  # type: ignore[arg-type]
        await engine.dispose()
        return plaintext

    return asyncio.run(work())


def test_every_route_outside_the_public_list_needs_a_key(client: TestClient) -> None:
    """Generated from the OpenAPI schema, so a new route cannot slip through."""
    public = {"/", "/health", "/ready", "/metrics", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"}
    schema = client.get("/openapi.json").json()
    checked = 0
    for path, operations in schema["paths"].items():
        if path in public:
            continue
        concrete = path.replace("{model_id}", "all-minilm-l6-v2")
        for method in operations:
            for headers in (
                {},
                bearer("sk-" + "x" * 40),
                {"Authorization": f"Basic {ADMIN}"},
                {"Authorization": ADMIN},
            ):
                response = client.request(method.upper(), concrete, headers=headers)
                assert response.status_code == 401, (method, path, headers, response.text)
                assert response.headers["www-authenticate"] == "Bearer"
                error = response.json()["error"]
                assert error["message"] == "Invalid API key"
                if path.startswith("/v1/messages"):  # Anthropic's shape: no code, the type says it
                    assert error["type"] == "authentication_error"
                else:
                    assert error["code"] == "invalid_api_key"
            checked += 1
    assert checked >= 10
    assert client.get("/health").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_a_valid_key_is_served_and_the_scope_is_checked(
    client: TestClient, app_dir: Path, make_settings: MakeSettings
) -> None:
    body = {"model": "all-minilm-l6-v2", "input": "hello"}
    assert client.post("/v1/embeddings", json=body, headers=bearer(ADMIN)).status_code == 200
    reader = make_key(app_dir, make_settings, ("usage:read",))
    refused = client.post("/v1/embeddings", json=body, headers=bearer(reader))
    assert refused.status_code == 403
    assert "'inference' scope" in refused.json()["error"]["message"]
    user = make_key(app_dir, make_settings, ("inference",))
    assert client.post("/v1/embeddings", json=body, headers=bearer(user)).status_code == 200
    assert client.get("/v1/models", headers=bearer(user)).status_code == 200
    admin_only = client.post("/v1/admin/models/unload", json={"model": "nothing"}, headers=bearer(user))
    assert admin_only.status_code == 403
    assert "'admin' scope" in admin_only.json()["error"]["message"]
    for method in ("GET", "PUT", "DELETE"):
        path = "/v1/admin/aliases" + ("" if method == "GET" else "/next")
        aliases = client.request(method, path, json={"model": "all-minilm-l6-v2"}, headers=bearer(user))
        assert aliases.status_code == 403, (method, aliases.text)


def test_revocation_takes_effect_within_the_cache_window(
    client: TestClient, app_dir: Path, make_settings: MakeSettings
) -> None:
    key = make_key(app_dir, make_settings, ("inference",))
    assert client.get("/v1/models", headers=bearer(key)).status_code == 200

    async def revoke() -> None:
        engine = make_engine(make_settings(data_dir=app_dir))
        async with sessions(engine)() as session, session.begin():
            await repository.revoke_key(session, key=key[3:11])
        await engine.dispose()

    asyncio.run(revoke())
    deadline = time.monotonic() + 5
    while client.get("/v1/models", headers=bearer(key)).status_code == 200:
        assert time.monotonic() < deadline, "a revoked key kept working"
        time.sleep(0.05)
    assert client.get("/v1/models", headers=bearer(key)).status_code == 401


def test_the_first_start_prints_a_generated_admin_key_once(
    make_settings: MakeSettings, tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "models").symlink_to(data_dir / "models")
    settings = make_settings(data_dir=tmp_path, models={"enabled": []}, auth={"enabled": True})
    with TestClient(create_app(settings)) as first:
        key = (tmp_path / "admin-key.txt").read_text().strip()
        assert key.startswith("sk-")
        assert stat.S_IMODE((tmp_path / "admin-key.txt").stat().st_mode) == 0o600
        assert first.get("/v1/models", headers=bearer(key)).status_code == 200
    shown = capsys.readouterr().err
    assert shown.count(key) == 1
    with TestClient(create_app(settings)):
        pass
    assert key not in capsys.readouterr().err  # the second start makes no key and shows none


def test_the_admin_api_manages_users_and_keys(client: TestClient) -> None:
    admin = bearer(ADMIN)
    made = client.post("/v1/admin/users", json={"name": "app-one"}, headers=admin)
    assert made.status_code == 201, made.text
    assert made.json()["name"] == "app-one"
    assert client.post("/v1/admin/users", json={"name": "app-one"}, headers=admin).status_code == 409
    assert "app-one" in [u["name"] for u in client.get("/v1/admin/users", headers=admin).json()["data"]]
    created = client.post("/v1/admin/keys", json={"user": "app-one", "name": "ci", "scopes": ["inference"]},
                          headers=admin)  # fmt: skip
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert key.startswith("sk-")
    assert created.json()["prefix"] == key[3:11]
    assert client.post("/v1/admin/keys", json={"user": "nobody"}, headers=admin).status_code == 404
    assert client.post("/v1/admin/keys", json={"user": "app-one", "scopes": ["root"]}, headers=admin).status_code == 422
    listed = client.get("/v1/admin/keys", params={"user": "app-one"}, headers=admin)
    assert listed.status_code == 200
    assert [k["name"] for k in listed.json()["data"]] == ["ci"]
    assert key not in listed.text
    assert key[11:] not in listed.text
    assert client.get("/v1/models", headers=bearer(key)).status_code == 200
    assert client.get("/v1/admin/keys", headers=bearer(key)).status_code == 403  # not an admin key
    revoked = client.delete(f"/v1/admin/keys/{key[3:11]}", headers=admin)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    deadline = time.monotonic() + 5
    while client.get("/v1/models", headers=bearer(key)).status_code == 200:
        assert time.monotonic() < deadline, "a revoked key kept working"
        time.sleep(0.05)
