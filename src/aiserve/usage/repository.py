"""Users and API keys in the database: keyword-only async functions on a session, committed by the caller."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from aiserve import apikeys as keys
from aiserve.errors import Conflict, NotFound
from aiserve.protocol.keys import SCOPES, Limits, Scope
from aiserve.usage.tables import ApiKey, User, utcnow

BOOTSTRAP_USER = "admin"


async def create_user(session: AsyncSession, *, name: str, limits: Limits | None = None) -> User:
    """A new user (`limits`: defaults for the user's keys); `Conflict` if the name is taken."""
    if await session.scalar(select(User).where(User.name == name)) is not None:
        raise Conflict(f"A user named '{name}' already exists.")
    user = User(name=name)
    user.set_limits(limits or Limits())
    session.add(user)
    await session.flush()
    return user


async def list_users(session: AsyncSession) -> Sequence[User]:
    """Every user, oldest first."""
    return (await session.scalars(select(User).order_by(User.id))).all()


async def find_user(session: AsyncSession, *, name: str) -> User:
    """The user named `name`; `NotFound` if there is none."""
    user = await session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"No user named '{name}'.")
    return user


async def create_key(
    session: AsyncSession,
    *,
    user: User,
    name: str = "",
    scopes: Sequence[Scope] = ("inference", "usage:read"),
    expires_at: datetime | None = None,
    plaintext: str | None = None,
    limits: Limits | None = None,
) -> tuple[ApiKey, str]:
    """A new key for `user`: the stored row and the plaintext, which exists only in this return value. A given
    `plaintext` (an operator's chosen bootstrap key) is stored the same way."""
    new = keys.adopt(plaintext) if plaintext is not None else keys.generate()
    while await session.scalar(select(ApiKey.id).where(ApiKey.prefix == new.prefix)) is not None:
        if plaintext is not None:
            raise Conflict("A key with the same prefix exists already.")
        new = keys.generate()  # a prefix collision: 1 in 2^48 per pair of keys
    row = ApiKey(user_id=user.id, name=name, prefix=new.prefix, key_hash=new.digest, scopes=list(scopes),
                 expires_at=expires_at)  # fmt: skip
    row.set_limits(limits or Limits())
    session.add(row)
    await session.flush()
    return row, new.plaintext


async def list_keys(session: AsyncSession, *, user: User | None = None) -> Sequence[ApiKey]:
    """Keys (never their plaintext), oldest first, with their users loaded."""
    query = select(ApiKey).options(selectinload(ApiKey.user)).order_by(ApiKey.id)
    if user is not None:
        query = query.where(ApiKey.user_id == user.id)
    return (await session.scalars(query)).all()


async def find_key(session: AsyncSession, *, key: str) -> ApiKey:
    """A key named by its id or its prefix (with its user); `NotFound` if there is none."""
    by_id = key.isascii() and key.isdigit() and len(key) <= 18  # 64 bits; "²" is a digit to Python, not to int()
    named = ApiKey.id == int(key) if by_id else ApiKey.prefix == key
    row = await session.scalar(select(ApiKey).options(selectinload(ApiKey.user)).where(named))
    if row is None:
        raise NotFound(f"No API key '{key}'.")
    return row


async def revoke_key(session: AsyncSession, *, key: str) -> ApiKey:
    """Revoke a key named by its id or its prefix; revoking twice keeps the first time."""
    row = await find_key(session, key=key)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


async def authenticate(session: AsyncSession, *, plaintext: str, now: datetime | None = None) -> ApiKey | None:
    """The active key behind `plaintext` (with its user), or None: unknown, wrong, revoked or expired alike."""
    if not keys.well_formed(plaintext):
        return None
    row = await session.scalar(
        select(ApiKey).options(selectinload(ApiKey.user)).where(ApiKey.prefix == keys.lookup_prefix(plaintext))
    )
    if row is None or not keys.matches(plaintext, row.key_hash):
        return None
    return row if row.active(now or utcnow()) else None


async def bootstrap_admin(session: AsyncSession, *, plaintext: str | None = None) -> str | None:
    """On a database with no keys, make the user `admin` and an admin key (`plaintext` if given); its plaintext,
    else None."""
    if await session.scalar(select(func.count()).select_from(ApiKey)):
        return None
    user = await session.scalar(select(User).where(User.name == BOOTSTRAP_USER))
    if user is None:
        user = await create_user(session, name=BOOTSTRAP_USER)
    _, made = await create_key(session, user=user, name="bootstrap", scopes=SCOPES, plaintext=plaintext)
    return made
