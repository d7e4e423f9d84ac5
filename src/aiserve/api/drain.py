"""Graceful stop: once asked to stop, the server reports not ready, refuses new work with 503 and `Retry-After`
(so a load balancer sends it elsewhere), and lets the requests and streams in flight finish before it exits."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class Drain:
    """The server's drain state, shared by the middleware that counts requests and the loop that stops it."""

    draining: bool = False
    in_flight: int = 0
    started: float | None = None
    exempt: frozenset[str] = field(default_factory=lambda: frozenset({"/health", "/ready", "/metrics"}))
    """Paths still answered while draining (the probes)."""

    def begin(self) -> None:
        """Stop admitting new work."""
        if not self.draining:
            self.draining, self.started = True, time.monotonic()
            log.info("draining: %d requests in flight", self.in_flight)

    def finished(self, timeout_s: float) -> bool:
        """Whether the drain is over: nothing in flight, or `timeout_s` gone by."""
        if self.started is None:
            return False
        if self.in_flight == 0:
            log.info("drained in %.2f s", time.monotonic() - self.started)
            return True
        if time.monotonic() - self.started >= timeout_s:
            log.warning("drain timeout: %d requests still in flight are cut off", self.in_flight)
            return True
        return False
