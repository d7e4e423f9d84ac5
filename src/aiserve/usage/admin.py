"""What the admin API and `aiserve users|keys` do, on a session the caller commits: the API's models in and out,
never a key itself after it is made (only its prefix)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from aiserve.protocol.keys import KeyCreate, KeyCreated, KeyOut, Limits, UserCreate, UserOut
from aiserve.usage import repository
from aiserve.usage.tables import ApiKey, User, utcnow


def user_out(row: User) -> UserOut:
    """A user as listed."""
    return UserOut(id=row.id, name=row.name, created_at=row.created_at, limits=row.limits)


def key_out(row: ApiKey) -> KeyOut:
    """A key as listed (its user loaded)."""
    return KeyOut(id=row.id, prefix=row.prefix, user=row.user.name, name=row.name, scopes=list(row.scopes),
                  created_at=row.created_at, expires_at=row.expires_at, revoked_at=row.revoked_at,
                  last_used_at=row.last_used_at, limits=row.limits)  # fmt: skip


async def create_user(session: AsyncSession, body: UserCreate) -> UserOut:
    """Add a user, with default limits for the user's keys."""
    return user_out(await repository.create_user(session, name=body.name, limits=body.limits))


async def list_users(session: AsyncSession) -> list[UserOut]:
    """Every user, oldest first."""
    return [user_out(user) for user in await repository.list_users(session)]


async def set_user_limits(session: AsyncSession, name: str, limits: Limits) -> UserOut:
    """Set the limits `limits` names on a user (null clears one); the others stay."""
    user = await repository.find_user(session, name=name)
    user.set_limits(limits, only=limits.model_fields_set)
    return user_out(user)


async def create_key(session: AsyncSession, body: KeyCreate) -> KeyCreated:
    """Make a key; the answer holds the key itself, this once."""
    expires = utcnow() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    holder = await repository.find_user(session, name=body.user)
    row, plaintext = await repository.create_key(session, user=holder, name=body.name, scopes=body.scopes,
                                                 expires_at=expires, limits=body.limits)  # fmt: skip
    row.user = holder
    return KeyCreated(**key_out(row).model_dump(), key=plaintext)


async def list_keys(session: AsyncSession, user: str | None = None) -> list[KeyOut]:
    """Every key, or one user's, oldest first."""
    holder = await repository.find_user(session, name=user) if user else None
    return [key_out(row) for row in await repository.list_keys(session, user=holder)]


async def revoke_key(session: AsyncSession, key: str) -> KeyOut:
    """Revoke a key named by id or prefix."""
    return key_out(await repository.revoke_key(session, key=key))


async def set_key_limits(session: AsyncSession, key: str, limits: Limits) -> KeyOut:
    """Set the limits `limits` names on a key (null clears one, so the user's applies); the others stay."""
    row = await repository.find_key(session, key=key)
    row.set_limits(limits, only=limits.model_fields_set)
    return key_out(row)
