"""The OpenAPI schema, with the models that only streams carry added to its components (FastAPI adds only the
models that routes take or return as JSON)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

REF = "#/components/schemas/{model}"


def add_schemas(app: FastAPI, models: Sequence[type[BaseModel]]) -> None:
    """Make `app.openapi()` include `models` (and the models they use) under `components.schemas`."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        components: dict[str, Any] = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in models:
            found = model.model_json_schema(ref_template=REF)
            for name, sub in found.pop("$defs", {}).items():
                components.setdefault(name, sub)
            components.setdefault(model.__name__, found)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
