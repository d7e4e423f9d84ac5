"""A real `aiserve serve` process on a free port, waited on through `/ready`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aiserve.bench.server import ServerProcess


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The default server, logging JSON to a file the tests can read."""
    log = tmp_path_factory.mktemp("logs") / "server.log"
    with ServerProcess(["--data-dir", str(data_dir)], log_path=log) as proc:
        proc.log_path = log  # type: ignore[attr-defined]
        yield proc
