"""Fair turns between the owners of queued work (API keys, or client addresses without keys): each owner has its
own first-in-first-out line, and the lines are served in turn, so one owner's flood waits behind its own requests,
not in front of everyone else's."""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict, deque
from typing import Generic, TypeVar

T = TypeVar("T")


def owner_cap(capacity: int, share: float) -> int:
    """How much of `capacity` one owner may hold."""
    return max(1, int(capacity * share))


class FairQueue(Generic[T]):
    """A thread-safe queue of per-owner lines served round robin. `close()` lets the getters drain what is left,
    then hands them `None`."""

    def __init__(self) -> None:
        self._lines: OrderedDict[str, deque[T]] = OrderedDict()
        self._ready = threading.Condition()
        self._closed = False

    def put(self, owner: str, item: T) -> None:
        """Queue `item` at the end of `owner`'s line."""
        with self._ready:
            self._lines.setdefault(owner, deque()).append(item)
            self._ready.notify()

    def get(self, block: bool = True) -> T | None:
        """The next item, taking the owners in turn; `None` once closed and empty; `queue.Empty` when `block` is
        false and nothing is queued."""
        with self._ready:
            while not self._lines:
                if self._closed:
                    return None
                if not block:
                    raise queue.Empty
                self._ready.wait()
            owner, line = next(iter(self._lines.items()))
            item = line.popleft()
            if line:
                self._lines.move_to_end(owner)  # the next get serves the next owner
            else:
                del self._lines[owner]
            return item

    def close(self) -> None:
        """No more items: getters drain the rest, then get `None`."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()
