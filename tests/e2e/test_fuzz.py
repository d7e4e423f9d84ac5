"""Property-based fuzzing of every operation in the OpenAPI schema (schemathesis), against a throwaway real server,
with an admin key and with an inference-only key: at least 100 generated requests per operation (fewer where the
schema allows fewer distinct ones), and none may answer a server error or a body that breaks its documented schema.

The chat model is left out so generated `max_tokens` cannot make the run long: the chat routes still parse,
validate and answer (404 for the model), and generation is covered by the chat tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import response_schema_conformance

from aiserve.bench.server import ServerProcess
from tests.e2e.conftest import own_home, user_key

pytestmark = pytest.mark.e2e

ADMIN = "sk-fuzz-admin-" + "z" * 32
EXAMPLES = 100


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = own_home(data_dir, tmp_path_factory, "fuzz")
    args = ["--data-dir", str(home), "--model", "all-minilm-l6-v2", "--model", "efficientnet-lite0"]
    with ServerProcess(args, api_key=ADMIN) as proc:
        yield proc


def fuzz(url: str, key: str) -> tuple[int, list[str]]:
    """Every operation, `EXAMPLES` generated requests each; how many were sent, and what failed."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    failures: list[str] = []
    sent = 0
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(f"the schema has an operation schemathesis cannot read: {result.err()}")
            continue
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: Any) -> None:
            nonlocal sent
            sent += 1
            response = case.call(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=600)
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        try:
            run()
        except BaseException as exc:  # hypothesis reports every distinct failure of the operation together
            found = getattr(exc, "exceptions", [exc])
            failures.append(f"{operation.label}: " + " | ".join(str(e).replace("\n", " ")[:500] for e in found))
    return sent, failures


@pytest.mark.parametrize("who", ["admin", "inference"])
def test_no_generated_request_gets_a_server_error_or_an_undocumented_answer(
    server: ServerProcess, who: str, report: Any
) -> None:
    key = ADMIN
    if who == "inference":
        with httpx.Client(base_url=server.url, timeout=600) as http:
            key = user_key(http, ADMIN, "fuzzer")["Authorization"].removeprefix("Bearer ")
    sent, failures = fuzz(server.url, key)
    report(f"fuzzing as {who}: {sent} generated requests, {len(failures)} operations failing")
    assert sent > 1000
    assert not failures, "\n".join(failures)
    assert httpx.get(f"{server.url}/ready").status_code == 200
