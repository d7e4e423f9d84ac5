"""Movable aliases on a running app: a name clients keep while an admin moves it from one version to the next,
kept in `aliases.json` across restarts."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import skimage
from fastapi.testclient import TestClient
from pydantic import SecretStr

from aiserve.registry.catalog import EFFICIENTNET_LITE0
from aiserve.registry.prepare import model_dir
from aiserve.settings import Settings
from tests.conftest import MakeSettings
from tests.integration.conftest import ADMIN_AUTH, ADMIN_KEY, running_app
from tests.services import postgres

pytestmark = pytest.mark.integration

COFFEE = base64.b64encode((Path(skimage.__file__).parent / "data" / "coffee.png").read_bytes()).decode()


def own_data_dir(root: Path, data_dir: Path) -> Path:
    """A data directory of its own (its own alias book and database), reusing the session's prepared models."""
    (root / "models").mkdir()
    for prepared in (data_dir / "models").iterdir():
        if prepared.is_dir():
            (root / "models" / prepared.name).symlink_to(prepared)
    return root


def settings_for(make_settings: MakeSettings, data_dir: Path, *enabled: str) -> Settings:
    """Version 1 of the classifier at start (and `enabled`), a version 2 and a broken model in the catalogue."""
    v1 = model_dir(data_dir / "models", EFFICIENTNET_LITE0)
    files = {"model.onnx": v1 / "model.onnx", "labels.json": v1 / "labels.json"}
    catalog = [
        {"id": "efficientnet-lite0", "version": "2", "task": "classification", "backend": "onnx-classifier",
         "files": files},
        {"id": "broken", "task": "classification", "backend": "onnx-classifier",
         "files": {**files, "model.onnx": data_dir / "missing.onnx"}},
    ]  # fmt: skip
    models = {"enabled": ["efficientnet-lite0", *enabled], "catalog": catalog}
    return make_settings(data_dir=data_dir, models=models, auth=ADMIN_AUTH)


@pytest.fixture(scope="module")
def app(make_settings: MakeSettings, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = own_data_dir(tmp_path_factory.mktemp("aliases"), data_dir)
    with running_app(settings_for(make_settings, root), key=ADMIN_KEY) as client:
        yield client


def classified_by(client: TestClient, model: str) -> str:
    """Which model answered a classification sent to `model`."""
    response = client.post("/v1/classify", json={"image": COFFEE, "model": model})
    assert response.status_code == 200, response.text
    answered: str = response.json()["model"]
    return answered


def point(client: TestClient, alias: str, model: str) -> dict[str, Any]:
    response = client.put(f"/v1/admin/aliases/{alias}", json={"model": model})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_an_alias_moves_to_version_2_and_survives_a_restart(
    make_settings: MakeSettings, data_dir: Path, tmp_path: Path
) -> None:
    root = own_data_dir(tmp_path, data_dir)
    with running_app(settings_for(make_settings, root), key=ADMIN_KEY) as app:
        first = point(app, "digits", "efficientnet-lite0@1")
        assert first["alias"] == "digits"
        assert first["model"] == "efficientnet-lite0@1"
        assert first["card"]["id"] == "efficientnet-lite0"
        assert "digits" in first["card"]["aliases"]
        assert classified_by(app, "digits") == "efficientnet-lite0"
        assert point(app, "digits", "efficientnet-lite0@1")["model"] == "efficientnet-lite0@1"  # already there

        moved = point(app, "digits", "efficientnet-lite0@2")  # not loaded yet: loaded first, then moved
        assert moved["model"] == "efficientnet-lite0@2"
        assert moved["card"]["id"] == "efficientnet-lite0@2"
        assert moved["card"]["status"] == "ready"
        assert classified_by(app, "digits") == "efficientnet-lite0@2"
        assert classified_by(app, "DIGITS") == "efficientnet-lite0@2"
        assert classified_by(app, "efficientnet-lite0") == "efficientnet-lite0"  # the bare id keeps its default
        assert "digits" not in app.get("/v1/models/efficientnet-lite0").json()["aliases"]
        assert app.get("/v1/models/digits").json()["aliases"] == ["digits"]
        listed = app.get("/v1/admin/aliases").json()
        assert [(a["alias"], a["model"], a["card"]["status"]) for a in listed["data"]] == [
            ("digits", "efficientnet-lite0@2", "ready")
        ]

        # an alias named like an id overrides the id's default version, until it is dropped
        point(app, "efficientnet-lite0", "efficientnet-lite0@2")
        assert classified_by(app, "efficientnet-lite0") == "efficientnet-lite0@2"
        assert classified_by(app, "efficientnet-lite0@1") == "efficientnet-lite0@1"
        dropped = app.delete("/v1/admin/aliases/efficientnet-lite0")
        assert dropped.status_code == 200, dropped.text
        assert dropped.json()["model"] == "efficientnet-lite0@2"
        assert classified_by(app, "efficientnet-lite0") == "efficientnet-lite0"

        # a failed load leaves the alias where it was
        failed = app.put("/v1/admin/aliases/digits", json={"model": "broken"})
        assert failed.status_code == 500
        assert failed.json()["error"]["code"] == "model_load_failed"
        assert "'digits' was not moved" in failed.json()["error"]["message"]
        assert classified_by(app, "digits") == "efficientnet-lite0@2"

    assert json.loads((root / "aliases.json").read_text()) == {"digits": "efficientnet-lite0@2"}
    with running_app(settings_for(make_settings, root, "digits"), key=ADMIN_KEY) as again:  # enabled by its alias
        assert classified_by(again, "digits") == "efficientnet-lite0@2"
        assert again.get("/ready").json()["models"] == {"efficientnet-lite0": "ready", "efficientnet-lite0@2": "ready"}
        assert [a["alias"] for a in again.get("/v1/admin/aliases").json()["data"]] == ["digits"]


@pytest.mark.parametrize("alias", ["a@b", "efficientnet-lite0@1", "a/b", "%20"])
def test_names_that_cannot_be_aliases_are_400(app: TestClient, alias: str) -> None:
    response = app.put(f"/v1/admin/aliases/{alias}", json={"model": "efficientnet-lite0"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_input"
    assert app.get("/v1/admin/aliases").json()["data"] == []


def test_an_unknown_model_is_404_and_sets_nothing(app: TestClient) -> None:
    response = app.put("/v1/admin/aliases/next", json={"model": "nope@3"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"
    assert app.get("/v1/admin/aliases").json()["data"] == []


def test_dropping_an_unknown_alias_is_404(app: TestClient) -> None:
    response = app.delete("/v1/admin/aliases/never-set")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "never-set" in response.json()["error"]["message"]


def test_an_alias_whose_model_is_unloaded_answers_404_until_it_is_moved(app: TestClient) -> None:
    point(app, "next", "efficientnet-lite0@2")
    app.post("/v1/admin/models/unload", json={"model": "efficientnet-lite0@2"})
    assert app.post("/v1/classify", json={"image": COFFEE, "model": "next"}).status_code == 404
    assert app.get("/v1/admin/aliases").json()["data"] == [{"alias": "next", "model": "efficientnet-lite0@2",
                                                            "card": None}]  # fmt: skip
    point(app, "next", "efficientnet-lite0@1")
    assert classified_by(app, "next") == "efficientnet-lite0"
    assert app.delete("/v1/admin/aliases/next").status_code == 200


def test_replicas_on_one_database_resolve_an_alias_the_same_way(
    make_settings: MakeSettings, data_dir: Path, tmp_path: Path
) -> None:
    with postgres() as url:
        replicas = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            root = own_data_dir(tmp_path / name, data_dir)
            settings = settings_for(make_settings, root)
            replicas.append(settings.model_copy(update={"database": settings.database.model_copy(
                update={"url": SecretStr(url)})}))  # fmt: skip
        with running_app(replicas[0], key=ADMIN_KEY) as a, running_app(replicas[1], key=ADMIN_KEY) as b:
            assert b.get("/v1/models/classifier").status_code == 404
            point(a, "classifier", "efficientnet-lite0@2")  # moved on one replica...
            deadline = time.monotonic() + 30
            while (found := b.get("/v1/models/classifier")).status_code != 200:  # ...followed by the other
                assert time.monotonic() < deadline, "the other replica never saw the alias"
                time.sleep(0.2)
            assert found.json()["id"] == "efficientnet-lite0@2"
            assert classified_by(b, "classifier") == "efficientnet-lite0@2"  # loaded there too
            assert a.delete("/v1/admin/aliases/classifier").status_code == 200
            while b.get("/v1/models/classifier").status_code != 404:
                assert time.monotonic() < deadline + 30, "the other replica kept a removed alias"
                time.sleep(0.2)
            assert json.loads((tmp_path / "b" / "aliases.json").read_text()) == {}  # its own copy follows too
