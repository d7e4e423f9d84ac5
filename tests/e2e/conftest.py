"""A real `aiserve serve` process on a free port, waited on through `/ready`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aiserve.bench.server import ServerProcess
from tests.conftest import SLOW_MACHINE_S


@pytest.fixture(scope="module", autouse=True)
def patient_servers() -> Iterator[None]:
    """Every server the tests start allows answers and drains as long as a slow or busy machine needs; a test about
    a deadline sets its own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AISERVE_SERVER__REQUEST_TIMEOUT_S", str(SLOW_MACHINE_S))
        patch.setenv("AISERVE_SERVER__GRACEFUL_SHUTDOWN_S", str(SLOW_MACHINE_S))
        yield


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The default server, logging JSON to a file the tests can read."""
    log = tmp_path_factory.mktemp("logs") / "server.log"
    with ServerProcess(["--data-dir", str(data_dir)], log_path=log) as proc:
        proc.log_path = log  # type: ignore[attr-defined]
        yield proc


def own_home(data_dir: Path, tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A data directory of its own (its own database and keys) that shares the session's prepared models."""
    home = tmp_path_factory.mktemp(name)
    (home / "models").symlink_to(data_dir / "models")
    return home


def user_key(http: httpx.Client, admin: str, user: str, limits: dict[str, int] | None = None) -> dict[str, str]:
    """A new user with one key (with `limits`), made with the admin key; the key's headers."""
    as_admin = {"Authorization": f"Bearer {admin}"}
    assert http.post("/v1/admin/users", json={"name": user}, headers=as_admin).status_code == 201
    made = http.post("/v1/admin/keys", json={"user": user, "limits": limits or {}}, headers=as_admin)
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['key']}"}
