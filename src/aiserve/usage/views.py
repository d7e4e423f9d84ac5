"""Rows as the admin API and the CLI show them: never a key itself, only its prefix."""

from __future__ import annotations

from aiserve.protocol.keys import KeyOut, UserOut
from aiserve.usage.tables import ApiKey, User


def user_out(row: User) -> UserOut:
    """A user as listed."""
    return UserOut(id=row.id, name=row.name, created_at=row.created_at, limits=row.limits)


def key_out(row: ApiKey) -> KeyOut:
    """A key as listed (its user loaded)."""
    return KeyOut(id=row.id, prefix=row.prefix, user=row.user.name, name=row.name, scopes=list(row.scopes),
                  created_at=row.created_at, expires_at=row.expires_at, revoked_at=row.revoked_at,
                  last_used_at=row.last_used_at, limits=row.limits)  # fmt: skip
