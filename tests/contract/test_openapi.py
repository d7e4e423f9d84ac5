"""The API's shape is reviewed: a change to it must come with a regenerated docs/openapi.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiserve.app import create_app
from aiserve.settings import Settings

pytestmark = pytest.mark.unit

SNAPSHOT = Path(__file__).parents[2] / "docs" / "openapi.json"


def test_openapi_matches_the_committed_snapshot(tmp_path: Path) -> None:
    current = create_app(Settings(data_dir=tmp_path)).openapi()
    committed = json.loads(SNAPSHOT.read_text())
    assert current == committed, "the API changed: review it, then run `make openapi` and commit docs/openapi.json"


def test_every_operation_has_a_tagged_id() -> None:
    spec = json.loads(SNAPSHOT.read_text())
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            tag = op["tags"][0]
            assert op["operationId"].startswith(f"{tag}-"), f"{method.upper()} {path}"


def test_every_operation_describes_its_success_answer_with_a_schema() -> None:
    spec = json.loads(SNAPSHOT.read_text())
    schemas = spec["components"]["schemas"]
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            where = f"{method.upper()} {path}"
            ok = {code: answer for code, answer in op["responses"].items() if code.startswith("2")}
            assert ok, f"{where} documents no success answer"
            for answer in ok.values():
                assert answer.get("content"), f"{where} documents no body"
                for media, content in answer["content"].items():
                    schema = content.get("schema") or {}
                    assert schema, f"{where} {media} has no schema"
                    ref = schema.get("$ref", "")
                    assert not ref or ref.rsplit("/", 1)[-1] in schemas, f"{where} {media}: {ref} is not defined"
