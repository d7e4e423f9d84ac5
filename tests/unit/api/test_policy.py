"""Every route declares its policy where it is defined; the table finds it before the route runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from starlette.types import Scope

from aiserve.api.policy import DENY_BY_DEFAULT, PUBLIC, Metering, PolicyTable, RoutePolicy, flatten, policy, public
from aiserve.app import create_app
from aiserve.settings import Settings

pytestmark = pytest.mark.unit

DOCS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


def http(method: str, path: str) -> Scope:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": [], "query_string": b""}


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> PolicyTable:
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("policy")))
    return PolicyTable(app.router.routes, DOCS)


def test_every_route_of_the_app_declares_a_policy(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    routes = flatten(app.router.routes)
    assert len(routes) > 30
    table = PolicyTable(app.router.routes, DOCS)  # raises on a route without one
    paths = {path for path, _ in table}
    assert set(app.openapi()["paths"]) <= paths


def test_a_route_without_a_policy_is_refused_when_the_app_is_built() -> None:
    router = APIRouter(prefix="/v1")

    @router.get("/forgotten")
    async def forgotten() -> dict[str, str]:
        return {}

    app = FastAPI()
    app.include_router(router)
    with pytest.raises(TypeError, match="'/v1/forgotten' declares no policy"):
        PolicyTable(app.router.routes, DOCS)


@pytest.mark.parametrize(
    ("method", "path", "route", "expected"),
    [
        ("GET", "/health", "/health", PUBLIC),
        ("GET", "/docs", "/docs", PUBLIC),
        ("GET", "/openapi.json", "/openapi.json", PUBLIC),
        ("GET", "/v1/models", "/v1/models", RoutePolicy("inference")),
        ("GET", "/v1/models/a/b@2", "/v1/models/{model}", RoutePolicy("inference")),
        ("GET", "/v1/usage", "/v1/usage", RoutePolicy("usage:read")),
        ("GET", "/v1/me", "/v1/me", RoutePolicy("key")),
        ("GET", "/ui", "/ui", PUBLIC),
        ("GET", "/ui/js/main.js", "/ui/{path}", PUBLIC),
        ("GET", "/ui/../../etc/passwd", "/ui/{path}", PUBLIC),
        ("GET", "/v1/admin/state", "/v1/admin/state", RoutePolicy("admin")),
        ("POST", "/v1/embeddings", "/v1/embeddings", RoutePolicy("inference", Metering.TOKENS, api="openai")),
        (
            "POST",
            "/v1/chat/completions",
            "/v1/chat/completions",
            RoutePolicy("inference", Metering.TOKENS, prompt=True, api="openai"),
        ),
        (
            "POST",
            "/v1/messages",
            "/v1/messages",
            RoutePolicy("inference", Metering.TOKENS, prompt=True, api="anthropic"),
        ),
        (
            "POST",
            "/v1/messages/count_tokens",
            "/v1/messages/count_tokens",
            RoutePolicy("inference", Metering.REQUESTS, prompt=True, api="anthropic"),
        ),
        ("POST", "/v1/classify", "/v1/classify", RoutePolicy("inference", Metering.IMAGES)),
        ("POST", "/v2/classify", "/v2/classify", RoutePolicy("inference", Metering.IMAGES)),
        ("POST", "/v1/inspect", "/v1/inspect", RoutePolicy("inference", Metering.REQUESTS)),
        ("DELETE", "/v1/admin/keys/abc", "/v1/admin/keys/{key}", RoutePolicy("admin")),
        ("GET", "/v1/embeddings", "/v1/embeddings", RoutePolicy("inference", Metering.TOKENS, api="openai")),  # 405
        ("GET", "/v1/nothing-here", "unmatched", DENY_BY_DEFAULT),
        ("GET", "/v1/admin/nothing", "unmatched", DENY_BY_DEFAULT),
    ],
)
def test_requests_find_their_route_template_and_policy(
    table: PolicyTable, method: str, path: str, route: str, expected: RoutePolicy
) -> None:
    assert table.match(http(method, path)) == (route, expected)


def test_only_listings_reports_and_admin_are_unmetered(table: PolicyTable) -> None:
    unmetered = {path for path, chosen in table if chosen.scope is not None and not chosen.metered}
    assert unmetered == {
        "/v1/models",
        "/v1/models/{model}",
        "/v1/usage",
        "/v1/me",
        "/v1/hello",
        "/mcp",  # MCP's own messages; a tool call takes its tool's policy (aiserve.api.mcp.http)
        *(path for path, chosen in table if path.startswith("/v1/admin/") and chosen.scope == "admin"),
    }
    assert all(chosen.scope == "admin" for path, chosen in table if path.startswith("/v1/admin/"))


def test_the_decorators_mark_the_endpoint_itself() -> None:
    async def endpoint() -> None: ...

    assert policy("inference", Metering.TOKENS)(endpoint) is endpoint
    assert public(endpoint) is endpoint
    assert not RoutePolicy("inference", Metering.NONE).metered
    assert RoutePolicy("inference", Metering.REQUESTS).metered
    assert not RoutePolicy("inference", Metering.REQUESTS).uses_tokens
    assert RoutePolicy("inference", Metering.IMAGES).uses_tokens
