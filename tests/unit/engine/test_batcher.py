"""Dynamic batching: grouping, splitting, overload, deadlines, cancellation, errors and shutdown.

The worker is held busy with a gate (a `threading.Event` the backend waits on) rather than with a delay, so no
test depends on how fast the machine is. Nothing here asserts on timings; `asyncio.timeout` is only a hang guard.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aiserve.engine.backends.dummy import DummyBackend
from aiserve.engine.batcher import Batcher, BatchPolicy
from aiserve.engine.engine import Engine
from aiserve.engine.protocol import Completed, EmbeddingOutput
from aiserve.errors import DeadlineExceeded, InvalidInput, ModelFailed, ModelNotReady, Overloaded, PayloadTooLarge

pytestmark = pytest.mark.unit

MODEL = "dummy-model"
HANG_GUARD_S = 5.0  # a deadlock guard, never a performance assertion


class RecordingBackend(DummyBackend):
    """A DummyBackend that records every batch's inputs and, when gated, holds the worker until released."""

    def __init__(self, *, options: Mapping[str, Any] | None = None, gated: bool = False) -> None:
        super().__init__(Path("."), threads=1, options=options or {})
        self.seen: list[list[str]] = []
        self.gate: threading.Event | None = threading.Event() if gated else None

    def forward(self, batch: list[str]) -> list[EmbeddingOutput]:
        self.seen.append(list(batch))
        self.started.set()
        if self.gate is not None:
            # Bounded so a failing test can never wedge the worker thread (and `close`) forever.
            self.gate.wait(HANG_GUARD_S)
        return super().forward(batch)

    def release(self) -> None:
        if self.gate is not None:
            self.gate.set()

    @property
    def inputs(self) -> list[str]:
        return [item for batch in self.seen for item in batch]


class RecordingObserver:
    """An EngineObserver that keeps every call."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, int]] = []
        self.depths: list[tuple[str, int]] = []
        self.rejections: list[tuple[str, str]] = []

    def batch_done(self, model_id: str, size: int, inference_s: float) -> None:
        self.batches.append((model_id, size))

    def queue_changed(self, model_id: str, depth: int) -> None:
        self.depths.append((model_id, depth))

    def rejected(self, model_id: str, reason: str) -> None:
        self.rejections.append((model_id, reason))

    def generation_done(self, model_id: str, reason: str, tokens: int) -> None:
        raise AssertionError("the batcher generates no text")


_REFERENCE = DummyBackend(Path("."), threads=1, options={})


def expected_vector(text: str) -> np.ndarray:
    """What the dummy model gives for `text` run on its own."""
    out = _REFERENCE.run_batch([text])[0]
    assert isinstance(out, EmbeddingOutput)
    return out.vector


def assert_outputs(done: Completed, texts: Sequence[str]) -> None:
    assert len(done.outputs) == len(texts)
    for out, text in zip(done.outputs, texts, strict=True):
        assert isinstance(out, EmbeddingOutput)
        np.testing.assert_array_equal(out.vector, expected_vector(text))


async def wait_until(predicate: Callable[[], bool]) -> None:
    """Yield to the loop until `predicate()` holds (bounded by the hang guard)."""
    async with asyncio.timeout(HANG_GUARD_S):
        while not predicate():
            await asyncio.sleep(0.001)


@asynccontextmanager
async def serving(
    backend: RecordingBackend, policy: BatchPolicy, observer: RecordingObserver | None = None
) -> AsyncIterator[Batcher]:
    batcher = Batcher(MODEL, backend, policy, observer)
    batcher.start()
    try:
        yield batcher
    finally:
        backend.release()
        async with asyncio.timeout(HANG_GUARD_S):
            await batcher.close(drain_s=2.0)


async def occupy_worker(batcher: Batcher, backend: RecordingBackend) -> asyncio.Task[Completed]:
    """Start a request that holds the (gated) worker until `backend.release()`."""
    task = asyncio.create_task(batcher.submit(["blocker"], timeout_s=30))
    await wait_until(backend.started.is_set)
    assert batcher.queued == 0
    return task


# --- batching -------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_concurrent_single_submits_share_batches() -> None:
    backend = RecordingBackend(options={"delay_s": 0.05})
    texts = [f"text number {i}" for i in range(20)]
    async with serving(backend, BatchPolicy(max_batch_size=8)) as batcher, asyncio.timeout(HANG_GUARD_S):
        results = await asyncio.gather(*(batcher.submit([t], timeout_s=30) for t in texts))
    for done, text in zip(results, texts, strict=True):
        assert_outputs(done, [text])
    assert sum(backend.batches) == 20
    assert len(backend.batches) < 20
    assert all(1 <= size <= 8 for size in backend.batches)
    assert sorted(backend.inputs) == sorted(texts)


@pytest.mark.asyncio
async def test_request_larger_than_max_batch_is_split_and_kept_in_order() -> None:
    backend = RecordingBackend()
    texts = [f"item {i}" for i in range(10)]
    async with serving(backend, BatchPolicy(max_batch_size=4)) as batcher, asyncio.timeout(HANG_GUARD_S):
        done = await batcher.submit(texts, timeout_s=30)
    assert_outputs(done, texts)
    assert backend.batches == [4, 4, 2]
    assert backend.inputs == texts


@pytest.mark.asyncio
async def test_large_request_shares_batches_with_a_small_one() -> None:
    backend = RecordingBackend(gated=True)
    big = [f"big {i}" for i in range(6)]
    async with serving(backend, BatchPolicy(max_batch_size=4)) as batcher, asyncio.timeout(HANG_GUARD_S):
        blocker = await occupy_worker(batcher, backend)
        big_task = asyncio.create_task(batcher.submit(big, timeout_s=30))
        small_task = asyncio.create_task(batcher.submit(["small"], timeout_s=30))
        await wait_until(lambda: batcher.queued == 7)
        backend.release()
        assert_outputs(await big_task, big)
        assert_outputs(await small_task, ["small"])
        await blocker
    assert backend.seen[1:] == [big[:4], [*big[4:], "small"]]


@pytest.mark.asyncio
async def test_completed_reports_non_negative_times() -> None:
    backend = RecordingBackend()
    async with serving(backend, BatchPolicy()) as batcher, asyncio.timeout(HANG_GUARD_S):
        done = await batcher.submit(["a", "b"], timeout_s=30)
    assert done.queue_s >= 0
    assert done.inference_s >= 0


# --- overload -------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_full_queue_refuses_at_once_and_never_runs_the_refused_items() -> None:
    backend = RecordingBackend(gated=True)
    observer = RecordingObserver()
    policy = BatchPolicy(max_batch_size=8, max_queue_items=4)
    async with serving(backend, policy, observer) as batcher, asyncio.timeout(HANG_GUARD_S):
        blocker = await occupy_worker(batcher, backend)
        fillers = [asyncio.create_task(batcher.submit([f"fill {i}", f"fill {i}b"], timeout_s=30)) for i in range(2)]
        await wait_until(lambda: batcher.queued == 4)

        with pytest.raises(Overloaded) as info:
            await batcher.submit(["rejected"], timeout_s=30)
        assert info.value.retry_after >= 1
        assert "try again" in info.value.message
        assert (MODEL, "overloaded") in observer.rejections
        assert batcher.queued == 4  # the refused request took no room

        backend.release()
        for i, task in enumerate(fillers):
            assert_outputs(await task, [f"fill {i}", f"fill {i}b"])
        await blocker
    assert "rejected" not in backend.inputs
    assert sum(backend.batches) == 5


@pytest.mark.asyncio
async def test_request_fitting_exactly_the_remaining_room_is_accepted() -> None:
    backend = RecordingBackend(gated=True)
    async with serving(backend, BatchPolicy(max_queue_items=3)) as batcher, asyncio.timeout(HANG_GUARD_S):
        blocker = await occupy_worker(batcher, backend)
        task = asyncio.create_task(batcher.submit(["a", "b", "c"], timeout_s=30))
        await wait_until(lambda: batcher.queued == 3)
        backend.release()
        assert_outputs(await task, ["a", "b", "c"])
        await blocker


@pytest.mark.asyncio
async def test_request_bigger_than_the_whole_queue_is_too_large_not_overloaded() -> None:
    # retrying could never help, so it is 413 (PayloadTooLarge), not 503 (Overloaded)
    backend = RecordingBackend()
    observer = RecordingObserver()
    async with serving(backend, BatchPolicy(max_queue_items=2), observer) as batcher:
        with pytest.raises(PayloadTooLarge, match="Split it"):
            await batcher.submit(["a", "b", "c"], timeout_s=30)
    assert backend.inputs == []
    assert observer.rejections == []


# --- deadlines and cancellation -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_deadline_passes_while_queued() -> None:
    backend = RecordingBackend(gated=True)
    observer = RecordingObserver()
    async with serving(backend, BatchPolicy(), observer) as batcher, asyncio.timeout(HANG_GUARD_S):
        blocker = await occupy_worker(batcher, backend)
        with pytest.raises(DeadlineExceeded):
            await batcher.submit(["late"], timeout_s=0.01)
        assert (MODEL, "deadline") in observer.rejections

        backend.release()
        await blocker
        await wait_until(lambda: batcher.queued == 0)
        # the batcher still serves afterwards
        assert_outputs(await batcher.submit(["after"], timeout_s=30), ["after"])
    assert "late" not in backend.inputs
    assert backend.inputs == ["blocker", "after"]


@pytest.mark.asyncio
async def test_cancelled_queued_request_never_runs() -> None:
    backend = RecordingBackend(gated=True)
    async with serving(backend, BatchPolicy()) as batcher, asyncio.timeout(HANG_GUARD_S):
        blocker = await occupy_worker(batcher, backend)
        task = asyncio.create_task(batcher.submit(["gone 1", "gone 2"], timeout_s=30))
        await wait_until(lambda: batcher.queued == 2)

        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # its room is free at once, while the worker is still busy: no false Overloaded for later requests
        assert batcher.queued == 0

        backend.release()
        await blocker
        await wait_until(lambda: batcher.queued == 0)
        assert_outputs(await batcher.submit(["after"], timeout_s=30), ["after"])
    assert backend.inputs == ["blocker", "after"]
    assert batcher.queued == 0


@pytest.mark.asyncio
async def test_cancelling_one_request_leaves_its_batch_mates_alone() -> None:
    backend = RecordingBackend(gated=True)
    async with serving(backend, BatchPolicy()) as batcher, asyncio.timeout(HANG_GUARD_S):
        blocker = await occupy_worker(batcher, backend)
        keep = asyncio.create_task(batcher.submit(["keep"], timeout_s=30))
        drop = asyncio.create_task(batcher.submit(["drop"], timeout_s=30))
        await wait_until(lambda: batcher.queued == 2)
        drop.cancel()
        backend.release()
        assert_outputs(await keep, ["keep"])
        with pytest.raises(asyncio.CancelledError):
            await drop
        await blocker
    assert "drop" not in backend.inputs


# --- errors ---------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_bad_input_fails_only_its_own_request() -> None:
    backend = RecordingBackend(gated=True)
    async with serving(backend, BatchPolicy()) as batcher, asyncio.timeout(HANG_GUARD_S):
        blocker = await occupy_worker(batcher, backend)
        failing = asyncio.create_task(batcher.submit(["fine", "bad"], timeout_s=30))
        passing = asyncio.create_task(batcher.submit(["neighbour"], timeout_s=30))
        await wait_until(lambda: batcher.queued == 3)
        backend.release()

        with pytest.raises(InvalidInput) as info:
            await failing
        assert info.value.param == "input"
        assert_outputs(await passing, ["neighbour"])
        await blocker
    assert ["fine", "bad", "neighbour"] in backend.seen  # both requests shared one batch


@pytest.mark.asyncio
async def test_batch_exception_fails_its_requests_and_the_batcher_keeps_serving() -> None:
    backend = RecordingBackend()
    async with serving(backend, BatchPolicy()) as batcher, asyncio.timeout(HANG_GUARD_S):
        with pytest.raises(ModelFailed) as info:
            await batcher.submit(["ok", "boom"], timeout_s=30)
        assert MODEL in info.value.message
        assert "RuntimeError" in info.value.message
        assert_outputs(await batcher.submit(["next"], timeout_s=30), ["next"])
    assert backend.seen == [["ok", "boom"], ["next"]]


@pytest.mark.asyncio
async def test_batch_exception_fails_every_request_in_the_batch() -> None:
    backend = RecordingBackend(gated=True)
    async with serving(backend, BatchPolicy()) as batcher, asyncio.timeout(HANG_GUARD_S):
        blocker = await occupy_worker(batcher, backend)
        first = asyncio.create_task(batcher.submit(["boom"], timeout_s=30))
        second = asyncio.create_task(batcher.submit(["innocent"], timeout_s=30))
        await wait_until(lambda: batcher.queued == 2)
        backend.release()
        with pytest.raises(ModelFailed):
            await first
        with pytest.raises(ModelFailed):
            await second
        await blocker
    assert ["boom", "innocent"] in backend.seen


# --- observer -------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_observer_sees_batches_and_queue_depth() -> None:
    backend = RecordingBackend()
    observer = RecordingObserver()
    async with serving(backend, BatchPolicy(max_batch_size=2), observer) as batcher, asyncio.timeout(HANG_GUARD_S):
        await batcher.submit(["a", "b", "c"], timeout_s=30)
    assert observer.batches == [(MODEL, 2), (MODEL, 1)]
    assert observer.depths[0] == (MODEL, 3)
    assert observer.depths[-1] == (MODEL, 0)
    assert observer.rejections == []


# --- lifecycle ------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_submit_before_start_is_refused() -> None:
    batcher = Batcher(MODEL, RecordingBackend(), BatchPolicy())
    try:
        with pytest.raises(ModelNotReady):
            await batcher.submit(["a"], timeout_s=30)
    finally:
        await batcher.close(drain_s=1.0)


@pytest.mark.asyncio
async def test_close_drains_queued_work_then_refuses_new_work() -> None:
    backend = RecordingBackend(gated=True)
    batcher = Batcher(MODEL, backend, BatchPolicy(max_batch_size=2))
    batcher.start()
    try:
        async with asyncio.timeout(HANG_GUARD_S):
            blocker = await occupy_worker(batcher, backend)
            queued = [asyncio.create_task(batcher.submit([f"queued {i}"], timeout_s=30)) for i in range(3)]
            await wait_until(lambda: batcher.queued == 3)

            closing = asyncio.create_task(batcher.close(drain_s=HANG_GUARD_S))
            await asyncio.sleep(0)  # let close() begin
            assert not closing.done()
            with pytest.raises(ModelNotReady):
                await batcher.submit(["too late"], timeout_s=30)

            backend.release()
            await closing
            # close() returned only after the queued work ran
            assert sorted(backend.inputs) == sorted(["blocker", "queued 0", "queued 1", "queued 2"])
            assert batcher.queued == 0
            for i, task in enumerate(queued):
                assert_outputs(await task, [f"queued {i}"])
            await blocker

            with pytest.raises(ModelNotReady):
                await batcher.submit(["after close"], timeout_s=30)
    finally:
        backend.release()
    assert "too late" not in backend.inputs
    assert "after close" not in backend.inputs


@pytest.mark.asyncio
async def test_async_with_starts_and_stops() -> None:
    backend = RecordingBackend()
    async with Batcher(MODEL, backend, BatchPolicy()) as batcher, asyncio.timeout(HANG_GUARD_S):
        assert_outputs(await batcher.submit(["x"], timeout_s=30), ["x"])
    with pytest.raises(ModelNotReady):
        await batcher.submit(["y"], timeout_s=30)


# --- linger ---------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_lone_request_does_not_wait_for_the_linger() -> None:
    backend = RecordingBackend()
    async with serving(backend, BatchPolicy(max_batch_size=8, max_wait_s=30)) as batcher:
        async with asyncio.timeout(HANG_GUARD_S):
            assert_outputs(await batcher.submit(["alone"], timeout_s=60), ["alone"])
        async with asyncio.timeout(HANG_GUARD_S):
            assert_outputs(await batcher.submit(["alone again"], timeout_s=60), ["alone again"])
    assert backend.batches == [1, 1]


@pytest.mark.asyncio
async def test_full_batch_does_not_wait_for_the_linger() -> None:
    backend = RecordingBackend()
    async with serving(backend, BatchPolicy(max_batch_size=2, max_wait_s=30)) as batcher:
        async with asyncio.timeout(HANG_GUARD_S):
            results = await asyncio.gather(batcher.submit(["p"], timeout_s=60), batcher.submit(["q"], timeout_s=60))
    assert_outputs(results[0], ["p"])
    assert_outputs(results[1], ["q"])
    assert backend.batches == [2]


# --- engine ---------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_engine_runs_added_models_and_refuses_unknown_ones() -> None:
    backend = RecordingBackend()
    async with Engine() as engine, asyncio.timeout(HANG_GUARD_S):
        engine.add(MODEL, backend, BatchPolicy())
        assert_outputs(await engine.run(MODEL, ["hello", "world"], timeout_s=30), ["hello", "world"])
        assert engine.queued(MODEL) == 0
        assert engine.queued("nope") == 0
        with pytest.raises(ModelNotReady) as info:
            await engine.run("nope", ["hello"], timeout_s=30)
        assert "nope" in info.value.message
        assert info.value.retry_after >= 1


@pytest.mark.asyncio
async def test_engine_remove_and_close_stop_serving() -> None:
    first, second = RecordingBackend(), RecordingBackend()
    engine = Engine()
    engine.add("first", first, BatchPolicy())
    engine.add("second", second, BatchPolicy())
    try:
        async with asyncio.timeout(HANG_GUARD_S):
            await engine.remove("first")
            await engine.remove("never-added")  # a no-op
            with pytest.raises(ModelNotReady):
                await engine.run("first", ["x"], timeout_s=30)
            assert_outputs(await engine.run("second", ["y"], timeout_s=30), ["y"])
            await engine.close()
            with pytest.raises(ModelNotReady):
                await engine.run("second", ["z"], timeout_s=30)
    finally:
        await engine.close()
    assert first.inputs == []
    assert second.inputs == ["y"]


@pytest.mark.asyncio
async def test_close_fails_a_batch_that_overruns_the_drain_without_blocking() -> None:
    backend = RecordingBackend(gated=True)
    batcher = Batcher(MODEL, backend, BatchPolicy())
    batcher.start()
    async with asyncio.timeout(HANG_GUARD_S):
        stuck = await occupy_worker(batcher, backend)
        await batcher.close(drain_s=0.05)  # returns although the batch is still running
        with pytest.raises(ModelNotReady, match="shutting down"):
            await stuck
    backend.release()


# --- fairness between owners ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_light_owner_is_served_in_the_next_batch_despite_a_flood() -> None:
    backend = RecordingBackend(gated=True)
    async with serving(backend, BatchPolicy(max_batch_size=8, max_queue_items=4096)) as batcher:
        blocker = await occupy_worker(batcher, backend)
        flood = [asyncio.create_task(batcher.submit([f"heavy {i}.{j}" for j in range(64)], timeout_s=30,
                                                    owner="key:heavy")) for i in range(8)]  # fmt: skip
        await wait_until(lambda: batcher.queued == 512)
        light = asyncio.create_task(batcher.submit(["light one"], timeout_s=30, owner="key:light"))
        await wait_until(lambda: batcher.queued == 513)
        backend.release()
        async with asyncio.timeout(HANG_GUARD_S):
            await light
            await asyncio.gather(blocker, *flood)
    batches = backend.seen[1:]  # after the blocker
    first_with_light = next(i for i, batch in enumerate(batches) if "light one" in batch)
    assert first_with_light == 0  # not behind the 512 inputs queued before it
    assert len(batches[0]) == 8


@pytest.mark.asyncio
async def test_one_owner_may_hold_only_its_share_of_the_queue() -> None:
    backend = RecordingBackend(gated=True)
    policy = BatchPolicy(max_batch_size=8, max_queue_items=100, max_share=0.5)
    async with serving(backend, policy) as batcher:
        blocker = await occupy_worker(batcher, backend)
        held = asyncio.create_task(batcher.submit([f"h{i}" for i in range(50)], timeout_s=30, owner="key:heavy"))
        await wait_until(lambda: batcher.queued == 50)
        with pytest.raises(Overloaded, match="your share of its queue"):
            await batcher.submit(["one more"], timeout_s=30, owner="key:heavy")
        other = asyncio.create_task(batcher.submit([f"o{i}" for i in range(50)], timeout_s=30, owner="key:other"))
        await wait_until(lambda: batcher.queued == 100)
        backend.release()
        async with asyncio.timeout(HANG_GUARD_S):
            await asyncio.gather(blocker, held, other)
        assert (await batcher.submit(["again"], timeout_s=30, owner="key:heavy")).outputs  # room again once done


# --- inputs prepared as they arrive -------------------------------------------------------------------------------


class PreparingBackend(RecordingBackend):
    """Prepares each input ("text" -> "prepared:text") on the batcher's preparing threads, recording which."""

    prepares = True

    def __init__(self, *, gated: bool = False, prepare_gate: threading.Event | None = None) -> None:
        super().__init__(gated=gated)
        self.prepare_gate = prepare_gate
        self.prepare_threads: set[str] = set()
        self.forward_threads: set[str] = set()

    def prepare(self, item: str) -> str:
        self.prepare_threads.add(threading.current_thread().name)
        if self.prepare_gate is not None:
            self.prepare_gate.wait(HANG_GUARD_S)
        return item if item.startswith("prepared:") else f"prepared:{item}"

    def forward(self, batch: list[str]) -> list[EmbeddingOutput]:
        self.forward_threads.add(threading.current_thread().name)
        return super().forward(batch)


@pytest.mark.asyncio
async def test_inputs_are_prepared_off_the_model_thread_while_a_batch_runs() -> None:
    backend = PreparingBackend(gated=True)
    async with serving(backend, BatchPolicy(max_batch_size=8)) as batcher:
        blocker = await occupy_worker(batcher, backend)
        waiting = asyncio.create_task(batcher.submit(["second"], timeout_s=30))
        # prepared while the model is still held by the first batch: preparing overlaps the forward pass
        await wait_until(lambda: len(backend.prepare_threads) == 1 and batcher.queued == 1 and not waiting.done())
        assert backend.seen == [["prepared:blocker"]]
        backend.release()
        async with asyncio.timeout(HANG_GUARD_S):
            done = await waiting
            await blocker
    assert backend.seen[1] == ["prepared:second"]
    assert_outputs(done, ["prepared:second"])
    assert all(name.startswith("prepare-") for name in backend.prepare_threads)
    assert all(name.startswith("model-") for name in backend.forward_threads)


@pytest.mark.asyncio
async def test_an_input_being_prepared_holds_its_room_and_frees_it_when_its_caller_leaves() -> None:
    gate = threading.Event()
    backend = PreparingBackend(prepare_gate=gate)
    async with serving(backend, BatchPolicy(max_batch_size=4, max_queue_items=3)) as batcher:
        slow = asyncio.create_task(batcher.submit(["a", "b", "c"], timeout_s=30))
        await wait_until(lambda: batcher.queued == 3)
        with pytest.raises(Overloaded):  # the three being prepared count against the bound
            await batcher.submit(["d"], timeout_s=30)
        slow.cancel()
        await asyncio.gather(slow, return_exceptions=True)
        assert batcher.queued == 0
        gate.set()
        async with asyncio.timeout(HANG_GUARD_S):
            done = await batcher.submit(["e"], timeout_s=30)
    assert_outputs(done, ["prepared:e"])
    assert backend.inputs == ["prepared:e"]  # the cancelled request never reached the model


@pytest.mark.asyncio
async def test_a_request_prepared_past_its_deadline_fails_with_deadline_exceeded() -> None:
    gate = threading.Event()
    backend = PreparingBackend(prepare_gate=gate)
    async with serving(backend, BatchPolicy()) as batcher:
        with pytest.raises(DeadlineExceeded):
            await batcher.submit(["late"], timeout_s=0.05)
        gate.set()
        assert batcher.queued == 0
