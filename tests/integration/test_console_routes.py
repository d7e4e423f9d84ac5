"""What the web console needs from the server, in process: its files under `/ui` (public, typed, cached by ETag, with
a strict Content-Security-Policy, and nothing outside them), `GET /v1/me` for any valid key, and the live figures
of `GET /v1/admin/state` for admin keys only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aiserve.ui import STATIC
from tests.conftest import MakeSettings
from tests.integration.conftest import running_app

pytestmark = pytest.mark.integration

ADMIN = "sk-test-console-" + "c" * 32


@pytest.fixture(scope="module")
def client(
    make_settings: MakeSettings, tmp_path_factory: pytest.TempPathFactory, data_dir: Path
) -> Iterator[TestClient]:
    home = tmp_path_factory.mktemp("console")
    (home / "models").symlink_to(data_dir / "models")
    settings = make_settings(data_dir=home, models={"enabled": ["all-minilm-l6-v2"]},
                             auth={"enabled": True, "bootstrap_key": ADMIN, "cache_s": 0})  # fmt: skip
    with running_app(settings) as c:
        yield c


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def key_with(client: TestClient, user: str, scopes: list[str]) -> str:
    assert client.post("/v1/admin/users", json={"name": user}, headers=bearer(ADMIN)).status_code == 201
    made = client.post("/v1/admin/keys", json={"user": user, "scopes": scopes}, headers=bearer(ADMIN))
    assert made.status_code == 201, made.text
    key: str = made.json()["key"]
    return key


def assert_strict(headers: object) -> None:
    policy = headers["content-security-policy"]  # type: ignore[index]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["form-action"] == "'none'"
    assert "unsafe" not in policy
    assert headers["x-content-type-options"] == "nosniff"  # type: ignore[index]
    assert headers["referrer-policy"] == "no-referrer"  # type: ignore[index]


def test_the_console_is_public_and_sent_with_a_strict_policy(client: TestClient) -> None:
    moved = client.get("/ui", follow_redirects=False)
    assert moved.status_code == 307
    assert moved.headers["location"] == "ui/"  # relative: the console works behind a path prefix too
    assert_strict(moved.headers)
    page = client.get("/ui/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-cache"
    assert_strict(page.headers)
    assert client.get("/ui/index.html").content == page.content


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/ui/js/main.js", "text/javascript; charset=utf-8"),
        ("/ui/console.css", "text/css; charset=utf-8"),
        ("/ui/favicon.svg", "image/svg+xml"),
        ("/ui/vendor/uplot-1.6.32/uPlot.iife.min.js", "text/javascript; charset=utf-8"),
    ],
)
def test_each_file_has_its_type_and_is_checked_again_by_its_etag(
    client: TestClient, path: str, media_type: str
) -> None:
    answer = client.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == media_type
    assert_strict(answer.headers)
    vendored = path.startswith("/ui/vendor/")
    assert answer.headers["cache-control"] == ("public, max-age=31536000, immutable" if vendored else "no-cache")
    again = client.get(path, headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert_strict(again.headers)
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/ui/nothing.js",
        "/ui/js",
        "/ui/vendor/uplot-1.6.32/LICENSE",  # shipped, but not a type the console serves
        "/ui/../../etc/passwd",
        "/ui/%2e%2e/%2e%2e/etc/passwd",
        "/ui/..%2f..%2f..%2fetc%2fpasswd",
        "/ui/%2e%2e%2f%2e%2e%2fsrc/aiserve/settings.py",
        "/ui/js/..%2f..%2f__init__.py",
        "/ui//etc/passwd",
        "/ui/js/%2e%2e/%2e%2e/%2e%2e/api/routes/ui.py",
    ],
)
def test_nothing_outside_the_console_files_is_served(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code in (401, 404), answer.text  # 401: the client resolved `..` to a path needing a key
    assert "root:" not in answer.text
    assert "import" not in answer.text
    if answer.status_code == 404:
        assert answer.json()["error"]["code"] == "not_found"
        assert_strict(answer.headers)


def test_the_page_runs_no_inline_script_or_style_and_takes_no_html_strings() -> None:
    page = (STATIC / "index.html").read_text()
    for script in re.findall(r"<script\b[^>]*>", page):
        assert "src=" in script, script
    assert "<style" not in page
    assert not re.search(r"\sstyle=", page)
    assert not re.search(r"\son[a-z]+=", page)
    for module in (STATIC / "js").glob("*.js"):
        code = module.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in code, f"{module.name} uses {sink}"
        assert 'localStorage.setItem("aiserve.key' not in code
        assert "document.cookie" not in code


def test_me_describes_any_valid_key_and_never_shows_it(client: TestClient) -> None:
    assert client.get("/v1/me").status_code == 401
    assert client.get("/v1/me", headers=bearer("sk-" + "x" * 40)).status_code == 401
    admin = client.get("/v1/me", headers=bearer(ADMIN)).json()
    assert admin["scopes"] == ["admin", "inference", "usage:read"]
    assert admin["user"] == "admin"
    for scopes in (["inference"], ["usage:read"]):
        key = key_with(client, f"me-{scopes[0]}", scopes)
        me = client.get("/v1/me", headers=bearer(key))
        assert me.status_code == 200, me.text
        body = me.json()
        assert body["scopes"] == scopes
        assert body["user"] == f"me-{scopes[0]}"
        assert key.startswith(f"sk-{body['key_prefix']}")
        assert key not in me.text
        assert set(body) == {"key_id", "key_prefix", "user_id", "user", "scopes", "limits"}


def test_the_live_state_is_for_admin_keys_and_counts_the_work_done(client: TestClient) -> None:
    body = {"model": "all-minilm-l6-v2", "input": ["one", "two", "three"]}
    assert client.post("/v1/embeddings", json=body, headers=bearer(ADMIN)).status_code == 200
    state = client.get("/v1/admin/state", headers=bearer(ADMIN))
    assert state.status_code == 200
    figures = state.json()
    assert figures["in_flight"] == 1  # this request
    assert figures["requests"] >= 2
    assert figures["uptime_s"] > 0
    [minilm] = figures["models"]
    assert minilm["model"] == "all-minilm-l6-v2"
    assert minilm["key"] == "all-minilm-l6-v2@1"
    assert minilm["status"] == "ready"
    assert minilm["queue_depth"] == 0
    assert minilm["batches"] >= 1
    assert minilm["batched_inputs"] >= 3
    inference = key_with(client, "state-reader", ["inference", "usage:read"])
    refused = client.get("/v1/admin/state", headers=bearer(inference))
    assert refused.status_code == 403
    assert client.get("/v1/admin/state").status_code == 401
