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


@contextmanager
def running_app(settings: Settings) -> Iterator[TestClient]:
    """A started app whose models are ready."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
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
