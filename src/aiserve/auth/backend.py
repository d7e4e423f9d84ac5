"""Checking keys against the database, with a short cache so a request rarely waits on it.

A key's verdict (its principal, or none) is trusted for `cache_s` seconds, so revocation and expiry reach every
replica within that time while a busy key costs one query per window. The cache is keyed by the key's digest,
never by the key itself, and is cleared when it grows past `max_entries` (random bad keys cannot fill memory).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiserve import apikeys
from aiserve.auth.principal import Principal

KeyLookup = Callable[[str], Awaitable[Principal | None]]
"""Where keys are kept: the caller behind a well-formed key, or None (the composition root wires the database)."""


class KeyAuthenticator:
    """`await authenticate(plaintext)` → the `Principal`, or None for a missing, wrong, revoked or expired key."""

    def __init__(
        self,
        lookup: KeyLookup,
        *,
        cache_s: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._cache_s = cache_s
        self._max_entries = max_entries
        self._clock = clock
        self._verdicts: dict[str, tuple[Principal | None, float]] = {}

    async def authenticate(self, plaintext: str) -> Principal | None:
        """The caller behind `plaintext`, from the cache while it is fresh, else from the database."""
        if not apikeys.well_formed(plaintext):
            return None
        digest = apikeys.digest(plaintext)
        now = self._clock()
        cached = self._verdicts.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        principal = await self._lookup(plaintext)
        if len(self._verdicts) >= self._max_entries:
            self._verdicts.clear()
        self._verdicts[digest] = (principal, now + self._cache_s)
        return principal
