"""The one table from domain errors to HTTP: status, OpenAI envelope, Retry-After."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest

import aiserve.errors as errors_module
from aiserve.api.errors import ERROR_TABLE, error_response
from aiserve.errors import (
    AiserveError,
    ClientDisconnected,
    DeadlineExceeded,
    Forbidden,
    InvalidInput,
    InvalidJson,
    MethodNotAllowed,
    ModelFailed,
    ModelNotFound,
    ModelNotReady,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    QuotaExceeded,
    RateLimited,
    SchemaViolation,
    ShuttingDown,
    Unauthenticated,
    Unavailable,
)

pytestmark = pytest.mark.unit


def body_of(response: Any) -> dict[str, Any]:
    data = json.loads(bytes(response.body))
    assert isinstance(data, dict)
    return data


def assert_envelope(body: dict[str, Any], *, message: str, type_: str, code: str, param: str | None) -> None:
    assert set(body) == {"error", "detail"}
    assert body["error"] == {"message": message, "type": type_, "param": param, "code": code}
    assert body["detail"] == message


@pytest.mark.parametrize(
    ("exc", "status", "type_", "code", "param"),
    [
        (PayloadTooLarge("too big", param="input"), 413, "invalid_request_error", "payload_too_large", "input"),
        (InvalidInput("bad input", param="input"), 400, "invalid_request_error", "invalid_input", "input"),
        (InvalidInput("bad input"), 400, "invalid_request_error", "invalid_input", None),
        (ModelNotFound("gpt-9"), 404, "invalid_request_error", "model_not_found", "model"),
        (Overloaded("busy", retry_after=2.0), 503, "server_overloaded", "overloaded", None),
        (ModelNotReady("loading", retry_after=2.0), 503, "service_unavailable", "model_not_ready", None),
        (Unavailable("down", retry_after=2.0), 503, "service_unavailable", "unavailable", None),
        (DeadlineExceeded("too slow"), 504, "timeout_error", "deadline_exceeded", None),
        (ModelFailed("broken"), 500, "server_error", "model_failed", None),
        (InvalidJson("not json"), 400, "invalid_request_error", "invalid_json", None),
        (Unauthenticated("Invalid API key"), 401, "invalid_request_error", "invalid_api_key", None),
        (Forbidden("no scope"), 403, "permission_error", "insufficient_scope", None),
        (NotFound("no route"), 404, "invalid_request_error", "not_found", None),
        (MethodNotAllowed("GET is not allowed"), 405, "invalid_request_error", "method_not_allowed", None),
        (RateLimited("slow down", limit="tokens", retry_after=3), 429, "tokens", "rate_limit_exceeded", None),
        (
            QuotaExceeded("spent", limit="monthly_tokens", retry_after=9),
            429,
            "insufficient_quota",
            "insufficient_quota",
            None,
        ),
        (ShuttingDown("stopping"), 503, "service_unavailable", "shutting_down", None),
        (ClientDisconnected(), 499, "invalid_request_error", "cancelled", None),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, AiserveError) else None,
)
def test_domain_error_maps_to_status_and_envelope(
    exc: AiserveError, status: int, type_: str, code: str, param: str | None
) -> None:
    response = error_response(exc)
    assert response.status_code == status
    assert response.media_type == "application/json"
    assert_envelope(body_of(response), message=exc.message, type_=type_, code=code, param=param)


def test_model_not_found_names_the_model() -> None:
    body = body_of(error_response(ModelNotFound("gpt-9")))
    assert "gpt-9" in body["error"]["message"]


@pytest.mark.parametrize(
    ("retry_after", "header"),
    [(2.0, "2"), (2.3, "3"), (0.2, "1"), (0.0, "1"), (1.0, "1"), (59.01, "60")],
)
@pytest.mark.parametrize("cls", [Overloaded, ModelNotReady, ShuttingDown, Unavailable])
def test_unavailable_errors_carry_retry_after(cls: type[Unavailable], retry_after: float, header: str) -> None:
    response = error_response(cls("later", retry_after=retry_after))
    assert response.status_code == 503
    assert response.headers["retry-after"] == header


@pytest.mark.parametrize(
    "exc",
    [InvalidInput("x"), PayloadTooLarge("x"), ModelNotFound("m"), DeadlineExceeded("x"), ModelFailed("x")],
    ids=lambda e: type(e).__name__,
)
def test_other_errors_have_no_retry_after(exc: AiserveError) -> None:
    assert "retry-after" not in error_response(exc).headers


def test_unlisted_domain_error_is_an_internal_error() -> None:
    response = error_response(AiserveError("strange"))
    assert response.status_code == 500
    assert_envelope(body_of(response), message="strange", type_="server_error", code="internal_error", param=None)


def test_every_domain_error_class_has_a_row() -> None:
    declared = {
        cls
        for _, cls in inspect.getmembers(errors_module, inspect.isclass)
        if issubclass(cls, AiserveError) and cls is not AiserveError
    }
    listed = {row[0] for row in ERROR_TABLE}
    assert declared <= listed, f"missing from ERROR_TABLE: {sorted(c.__name__ for c in declared - listed)}"


def test_table_lists_subclasses_before_their_bases() -> None:
    classes = [row[0] for row in ERROR_TABLE]
    for i, earlier in enumerate(classes):
        for later in classes[i + 1 :]:
            assert not issubclass(later, earlier), f"{later.__name__} is shadowed by {earlier.__name__}"


def test_schema_violation_lists_each_field_and_extra_headers_are_kept() -> None:
    detail = [{"loc": ["body", "input"], "msg": "field required", "type": "missing"}]
    response = error_response(
        SchemaViolation("input: field required", param="input", errors=detail), headers={"X-Test": "1"}
    )
    body = body_of(response)
    assert response.status_code == 422
    assert body["detail"] == detail
    assert body["error"] == {"message": "input: field required", "type": "invalid_request_error", "param": "input",
                             "code": "validation_error"}  # fmt: skip
    assert response.headers["x-test"] == "1"


def test_unauthenticated_asks_for_a_bearer_key() -> None:
    assert error_response(Unauthenticated("Invalid API key")).headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("cls", [RateLimited, QuotaExceeded])
def test_limits_carry_retry_after(cls: type[RateLimited]) -> None:
    response = error_response(cls("later", limit="requests", retry_after=7.2))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "8"
