"""The real app in process, with the real model, through Starlette's TestClient (lifespan included)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from aiserve.app import create_app
from aiserve.settings import Settings
from tests.conftest import MakeSettings

ADMIN_KEY = "sk-test-admin-routes-" + "a" * 32
ADMIN_AUTH = {"enabled": True, "bootstrap_key": ADMIN_KEY, "cache_s": 0}
"""Settings for tests that use the admin routes (closed while authentication is off); with `key=ADMIN_KEY`."""


@contextmanager
def running_app(settings: Settings, *, key: str | None = None) -> Iterator[TestClient]:
    """A started app whose models are ready; with `key`, every request carries it."""
    headers = {"Authorization": f"Bearer {key}"} if key else None
    with TestClient(create_app(settings), raise_server_exceptions=False, headers=headers) as client:
        deadline = time.monotonic() + 120
        while client.get("/ready").status_code != 200:
            assert time.monotonic() < deadline, "models did not become ready"
            time.sleep(0.05)
        yield client


@pytest.fixture(scope="module")
def client(make_settings: MakeSettings) -> Iterator[TestClient]:
    """The default app."""
    with running_app(make_settings()) as c:
        yield c
