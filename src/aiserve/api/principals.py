"""Where a request's principal comes from: the key lookup the authenticator is given, over the key store."""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiserve.auth.backend import KeyLookup
from aiserve.auth.principal import Principal
from aiserve.errors import Unavailable
from aiserve.protocol.keys import SCOPES
from aiserve.usage import repository

log = logging.getLogger(__name__)


def key_lookup(sessions: async_sessionmaker[AsyncSession]) -> KeyLookup:
    """Look keys up in the database: the active key's principal, with its limits over its user's."""

    async def lookup(plaintext: str) -> Principal | None:
        try:
            async with sessions() as session:
                row = await repository.authenticate(session, plaintext=plaintext)
                if row is None:
                    return None
                scopes = frozenset(s for s in SCOPES if s in row.scopes)
                limits = row.limits.over(row.user.limits)
                return Principal(row.id, row.prefix, row.user_id, row.user.name, scopes, limits)
        except (SQLAlchemyError, OSError) as exc:  # the database is away: the client may try again shortly
            log.error("cannot check an API key: the database is unreachable (%s)", type(exc).__name__)
            raise Unavailable("API keys cannot be checked right now; try again shortly.", retry_after=1.0) from None

    return lookup
