"""Who is calling: the key a request carried, its holder and what it may do."""

from __future__ import annotations

from dataclasses import dataclass

from aiserve.protocol.keys import Limits, Scope


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    key_id: int
    key_prefix: str
    user_id: int
    user: str
    scopes: frozenset[Scope]
    limits: Limits = Limits()
    """The key's own limits over its user's (the server's defaults fill in the rest)."""

    def allows(self, scope: Scope) -> bool:
        """Whether the key carries `scope` (`admin` carries every scope)."""
        return scope in self.scopes or "admin" in self.scopes
