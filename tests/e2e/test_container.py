"""The CPU image, built from deploy/Dockerfile and run as a container would be: it serves real embeddings and
classifications with no network at run time, keeps its database on the /data volume across a restart, and drains
and exits 0 on SIGTERM."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
import skimage

from tests.containers import UID, build_image, image_config, require_tools, running

pytestmark = pytest.mark.e2e

ADMIN = "sk-container-admin-" + "c" * 32
COFFEE = Path(skimage.__file__).parent / "data" / "coffee.png"


@pytest.fixture(scope="module")
def image() -> str:
    require_tools()
    tag, seconds = build_image()
    print(f"\nimage {tag} built in {seconds:.0f} s")  # noqa: T201
    return tag


def test_the_image_follows_the_container_rules(image: str) -> None:
    config = image_config(image)
    env = dict(item.split("=", 1) for item in config["Env"])
    assert config["Entrypoint"] == ["aiserve", "serve"]  # exec form: the server is PID 1 and gets SIGTERM
    assert config["User"] == f"{UID}:{UID}"  # not root
    assert "8000/tcp" in config["ExposedPorts"]
    assert "/data" in config["Volumes"]
    assert env["AISERVE_SERVER__HOST"] == "0.0.0.0"
    assert env["AISERVE_DATA_DIR"] == "/data"
    assert "/health" in " ".join(config["Healthcheck"]["Test"])
    assert not any("KEY" in name or "PASSWORD" in name for name in env)  # secrets come only from the environment


def test_it_serves_offline_keeps_its_database_and_drains(image: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, UID, UID)  # the volume, writable by the image's user
    env = {"AISERVE_AUTH__BOOTSTRAP_KEY": ADMIN}
    auth = {"Authorization": f"Bearer {ADMIN}"}
    with running(image, data, env) as container:
        status, embedded = container.request("POST", "/v1/embeddings", headers=auth,
                                             json={"model": "all-minilm-l6-v2", "input": "hello"})  # fmt: skip
        assert status == 200, embedded
        assert len(embedded["data"][0]["embedding"]) == 384
        image_b64 = base64.b64encode(COFFEE.read_bytes()).decode()
        status, classified = container.request("POST", "/v1/classify", headers=auth, json={"image": image_b64})
        assert status == 200, classified
        assert classified["predictions"][0]["label"] == "espresso"
        status, made = container.request("POST", "/v1/admin/users", headers=auth, json={"name": "survivor"})
        assert status == 201, made
        assert container.stop() == 0  # SIGTERM: drained, ledger written, clean exit
    assert (data / "aiserve.db").is_file()
    with running(image, data, env) as again:
        status, users = again.request("GET", "/v1/admin/users", headers=auth)
        assert status == 200
        assert "survivor" in [user["name"] for user in users["data"]]
        status, usage = again.request("GET", "/v1/usage", headers=auth)
        assert usage["total_requests"] == 2  # the first run's embedding and classification, flushed on stop
        assert again.stop() == 0
