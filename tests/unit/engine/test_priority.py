"""The models' threads run below the event loop's priority, and the threads they start inherit it."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from pathlib import Path

import pytest

from aiserve.engine.backends.dummy import DummyBackend
from aiserve.engine.batcher import Batcher, BatchPolicy
from aiserve.engine.priority import lower_priority, model_threads
from aiserve.engine.protocol import EmbeddingOutput

pytestmark = [pytest.mark.unit, pytest.mark.skipif(sys.platform != "linux", reason="per-thread priority is Linux's")]


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_a_model_thread_and_the_threads_it_starts_run_lower_and_the_caller_does_not() -> None:
    mine = _nice()
    seen: dict[str, int] = {}

    def work() -> None:
        seen["model"] = _nice()
        child = threading.Thread(target=lambda: seen.__setitem__("child", _nice()))
        child.start()
        child.join()

    with model_threads(5, "test") as pool:
        pool.submit(work).result()
    assert seen == {"model": min(19, mine + 5), "child": min(19, mine + 5)}
    assert _nice() == mine


def test_zero_leaves_the_priority_alone() -> None:
    seen: list[int] = []

    def work() -> None:
        lower_priority(0)
        seen.append(_nice())

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == [_nice()]


class _PriorityBackend(DummyBackend):
    def __init__(self) -> None:
        super().__init__(Path("."), threads=1, options={})
        self.nice: list[int] = []

    def forward(self, batch: list[str]) -> list[EmbeddingOutput]:
        self.nice.append(_nice())
        return super().forward(batch)


@pytest.mark.asyncio
async def test_the_batcher_runs_its_model_below_the_event_loop() -> None:
    backend = _PriorityBackend()
    async with Batcher("m", backend, BatchPolicy(nice=7)) as batcher, asyncio.timeout(5):
        await batcher.submit(["a"], timeout_s=5)
    assert backend.nice == [min(19, _nice() + 7)]
