"""The first start: with no key in the database, make one admin key so the server is usable at once.

A generated key is printed once on the terminal and written to `<data_dir>/admin-key.txt`, readable by the owner
only; the log says where, never what. A configured `auth.bootstrap_key` is stored instead and not printed.
"""

from __future__ import annotations

import logging
import os
import sys

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiserve.settings import Settings
from aiserve.usage import repository

log = logging.getLogger(__name__)

KEY_FILE = "admin-key.txt"


async def bootstrap(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
    """Make the first admin key if the database has none."""
    chosen = settings.auth.bootstrap_key.get_secret_value() if settings.auth.bootstrap_key else None
    async with sessions() as session, session.begin():
        made = await repository.bootstrap_admin(session, plaintext=chosen)
    if made is None or chosen is not None:
        if made is not None:
            log.info("created the first admin key from auth.bootstrap_key")
        return
    path = settings.data_dir / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(made + "\n")
    sys.stderr.write(f"\n  First start: your admin API key (shown once, also in {path}):\n\n    {made}\n\n")
    log.warning("created the first admin key; it is in %s (readable by its owner only)", path)
