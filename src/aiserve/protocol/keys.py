"""Users and API keys on the admin API (`/v1/admin/users`, `/v1/admin/keys`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

Scope = Literal["admin", "inference", "usage:read"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
"""`admin`: keys, users, models and anyone's usage; `inference`: the model routes; `usage:read`: one's own usage."""


def _utc(moment: datetime) -> datetime:
    """A time read back without its zone (SQLite keeps none) is UTC, as it was stored: say so on the wire."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


Timestamp = Annotated[datetime, AfterValidator(_utc)]
"""A moment, always with its zone (RFC 3339)."""


def _printable(text: str) -> str:
    if not text.isprintable():
        raise ValueError("must not contain control characters (newlines, tabs, escapes)")
    return text


Name = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_printable)]
"""A user's name: 1 to 128 printable characters."""
Label = Annotated[str, Field(max_length=128), AfterValidator(_printable)]
"""What a key is for: up to 128 printable characters."""


MAX_LIMIT = 10**15
"""The largest limit or quota: past any real one, within a 64-bit database column and exact as a float in Redis."""
Count = Annotated[int, Field(ge=1, le=MAX_LIMIT)]

LIMIT_FIELDS = ("requests_per_minute", "tokens_per_minute", "max_concurrent", "monthly_requests", "monthly_tokens")


class Limits(BaseModel):
    """Rate limits and quotas; an unset one falls back to the user's, then to the server's default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requests_per_minute: Count | None = None
    """Requests in any 60 s window."""
    tokens_per_minute: Count | None = None
    """Tokens (prompt, completion, embedded, and a set amount per image) in any 60 s window."""
    max_concurrent: Count | None = None
    """Requests in flight at once."""
    monthly_requests: Count | None = None
    """Requests in a calendar month (UTC)."""
    monthly_tokens: Count | None = None
    """Tokens in a calendar month (UTC)."""

    def over(self, defaults: Limits) -> Limits:
        """These limits, each unset one taken from `defaults`."""
        mine = self.model_dump(exclude_none=True)
        return Limits(**{**defaults.model_dump(exclude_none=True), **mine})


class UserCreate(BaseModel):
    """A new user."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    """A unique name (a person or an app)."""
    limits: Limits = Field(default_factory=Limits)
    """Defaults for the user's keys."""


class UserOut(BaseModel):
    """A user."""

    id: int
    name: str
    created_at: Timestamp
    limits: Limits


class KeyCreate(BaseModel):
    """A new key for an existing user."""

    model_config = ConfigDict(extra="forbid")

    user: Name
    """The user who holds the key."""
    name: Label = ""
    """What the key is for."""
    scopes: list[Scope] = Field(default=["inference", "usage:read"], min_length=1)
    """What the key may do."""
    expires_in_days: int | None = Field(default=None, ge=1, le=36500)
    """Days until the key stops working; none: never."""
    limits: Limits = Field(default_factory=Limits)
    """The key's own limits, over its user's."""


class KeyOut(BaseModel):
    """A key as listed: never the key itself, only its prefix."""

    id: int
    prefix: str
    """The characters after `sk-` that identify the key in lists and logs."""
    user: str
    name: str
    scopes: list[str]
    created_at: Timestamp
    expires_at: Timestamp | None
    revoked_at: Timestamp | None
    last_used_at: Timestamp | None
    limits: Limits
    """The key's own limits (unset ones fall back to the user's, then the server's)."""


class KeyCreated(KeyOut):
    """A new key: `key` is shown in this answer only."""

    key: str
    """The API key; store it now, it cannot be shown again."""


class KeyList(BaseModel):
    """Keys, oldest first."""

    object: Literal["list"] = "list"
    data: list[KeyOut]


class UserList(BaseModel):
    """Users, oldest first."""

    object: Literal["list"] = "list"
    data: list[UserOut]


class Caller(BaseModel):
    """`GET /v1/me`: the key a request carried, as its holder may see it (never the key itself)."""

    key_id: int
    key_prefix: str
    """The characters after `sk-` that identify the key in lists and logs."""
    user_id: int
    user: str
    """The user who holds the key."""
    scopes: list[Scope]
    """What the key may do; `admin` carries every scope."""
    limits: Limits
    """The key's own limits over its user's; unset ones take the server's defaults."""
