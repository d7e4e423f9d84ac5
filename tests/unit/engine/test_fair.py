"""Per-owner lines served in turn."""

from __future__ import annotations

import queue
import threading

import pytest

from aiserve.engine.fair import FairQueue, owner_cap

pytestmark = pytest.mark.unit


def test_owners_are_served_in_turn_each_in_its_own_order() -> None:
    lines: FairQueue[str] = FairQueue()
    for i in range(5):
        lines.put("heavy", f"h{i}")
    lines.put("light", "l0")
    lines.put("other", "o0")
    lines.put("light", "l1")
    taken = [lines.get(block=False) for _ in range(8)]
    assert taken == ["h0", "l0", "o0", "h1", "l1", "h2", "h3", "h4"]
    with pytest.raises(queue.Empty):
        lines.get(block=False)


def test_close_drains_then_hands_out_none() -> None:
    lines: FairQueue[int] = FairQueue()
    lines.put("a", 1)
    got: list[int | None] = []
    waiter = threading.Thread(target=lambda: got.extend([lines.get(), lines.get()]))
    waiter.start()
    lines.close()
    waiter.join(5)
    assert got == [1, None]


def test_an_owner_cap_is_never_zero() -> None:
    assert owner_cap(4096, 0.5) == 2048
    assert owner_cap(3, 0.1) == 1
    assert owner_cap(32, 1.0) == 32
