"""The models compute at a lower CPU priority than the event loop that answers HTTP.

On a small machine the models' threads (ONNX Runtime's, torch's, llama.cpp's) would otherwise take every core, and the
event loop would wait for one before it could refuse an overload (503), answer a health check or stream a token. At a
lower priority they still get every cycle the loop leaves, so throughput is unchanged, but the loop runs as soon as it
has work. On Linux a priority (nice value) belongs to each thread and the threads it starts inherit it; elsewhere this
does nothing.
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor


def lower_priority(nice: int) -> None:
    """Lower the calling thread's CPU priority by `nice` steps (at most to 19): for the model's own threads, never
    for the event loop's. A lower priority cannot be raised again without privileges, so call it on threads that do
    model work for good."""
    if nice <= 0 or sys.platform != "linux":
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except OSError:  # a sandbox that forbids it: run at the same priority
        return


def model_threads(nice: int, name: str, workers: int = 1) -> ThreadPoolExecutor:
    """An executor whose threads run at the models' priority (and so do the threads they start)."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name, initializer=lower_priority,
                              initargs=(nice,))  # fmt: skip
