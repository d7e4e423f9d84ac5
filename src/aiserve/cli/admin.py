"""Users and keys for `aiserve users|keys`: straight in the database, or over a running server's admin API when a
URL or an API key is given. Both answer with the API's own models, so the commands print the same either way."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from aiserve.cli.options import settings_from
from aiserve.protocol.keys import KeyCreate, KeyCreated, KeyOut, Limits, UserCreate, UserOut

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from aiserve.client import Client

T = TypeVar("T")


def describe(limits: Limits) -> str:
    """Limits in a few words, for tables."""
    parts = [
        (limits.requests_per_minute, "{}/min"),
        (limits.tokens_per_minute, "{} tok/min"),
        (limits.max_concurrent, "{} at once"),
        (limits.monthly_requests, "{}/month"),
        (limits.monthly_tokens, "{} tok/month"),
    ]
    return ", ".join(form.format(value) for value, form in parts if value is not None) or "-"


class Admin(Protocol):
    """What `aiserve users|keys` do."""

    def create_user(self, name: str, limits: Limits) -> UserOut: ...
    def list_users(self) -> list[UserOut]: ...
    def set_user_limits(self, name: str, limits: Limits) -> UserOut: ...
    def create_key(self, request: KeyCreate) -> KeyCreated: ...
    def list_keys(self, user: str | None) -> list[KeyOut]: ...
    def revoke_key(self, key: str) -> KeyOut: ...
    def set_key_limits(self, key: str, limits: Limits) -> KeyOut: ...


def admin_for(*, url: str | None, api_key: str | None, data_dir: Path | None, config: Path | None) -> Admin:
    """Over the admin API when a URL or an API key is given, else straight in the database."""
    if url or api_key:
        return RemoteAdmin(url=url, api_key=api_key, config=config)
    return DatabaseAdmin(data_dir=data_dir, config=config)


class RemoteAdmin:
    """The admin API of a running server, through the SDK (one connection per command)."""

    def __init__(self, *, url: str | None, api_key: str | None, config: Path | None) -> None:
        self.url, self.api_key, self.config = url, api_key, config

    def _do(self, work: Callable[[Client], T]) -> T:
        from aiserve.cli.remote import client_for

        with client_for(self.url, self.api_key, self.config) as client:
            return work(client)

    def create_user(self, name: str, limits: Limits) -> UserOut:
        return self._do(lambda c: c.users.create(name, limits=limits))

    def list_users(self) -> list[UserOut]:
        return self._do(lambda c: c.users.list().data)

    def set_user_limits(self, name: str, limits: Limits) -> UserOut:
        return self._do(lambda c: c.users.set_limits(name, limits))

    def create_key(self, request: KeyCreate) -> KeyCreated:
        wanted = request.model_dump(exclude={"user"})
        return self._do(lambda c: c.keys.create(request.user, **wanted))

    def list_keys(self, user: str | None) -> list[KeyOut]:
        return self._do(lambda c: c.keys.list(user=user).data)

    def revoke_key(self, key: str) -> KeyOut:
        return self._do(lambda c: c.keys.revoke(key))

    def set_key_limits(self, key: str, limits: Limits) -> KeyOut:
        return self._do(lambda c: c.keys.set_limits(key, limits))


class DatabaseAdmin:
    """The database itself (what an operator on the server's machine, or with its database URL, uses)."""

    def __init__(self, *, data_dir: Path | None, config: Path | None) -> None:
        self.settings = settings_from(config, data_dir=data_dir)

    def _run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        from aiserve.usage.db import run_in_database

        return run_in_database(self.settings, work)

    def create_user(self, name: str, limits: Limits) -> UserOut:
        from aiserve.usage import admin

        return self._run(lambda s: admin.create_user(s, UserCreate(name=name, limits=limits)))

    def list_users(self) -> list[UserOut]:
        from aiserve.usage import admin

        return self._run(admin.list_users)

    def set_user_limits(self, name: str, limits: Limits) -> UserOut:
        from aiserve.usage import admin

        return self._run(lambda s: admin.set_user_limits(s, name, limits))

    def create_key(self, request: KeyCreate) -> KeyCreated:
        from aiserve.usage import admin

        return self._run(lambda s: admin.create_key(s, request))

    def list_keys(self, user: str | None) -> list[KeyOut]:
        from aiserve.usage import admin

        return self._run(lambda s: admin.list_keys(s, user))

    def revoke_key(self, key: str) -> KeyOut:
        from aiserve.usage import admin

        return self._run(lambda s: admin.revoke_key(s, key))

    def set_key_limits(self, key: str, limits: Limits) -> KeyOut:
        from aiserve.usage import admin

        return self._run(lambda s: admin.set_key_limits(s, key, limits))
