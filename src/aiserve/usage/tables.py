"""The tables: users, their API keys, one usage event per answered model request, shared aliases and stored
responses."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from aiserve.protocol.keys import LIMIT_FIELDS, Limits


def utcnow() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Every table's base."""

    type_annotation_map = {datetime: DateTime(timezone=True)}


class _Limited:
    """Limit columns: unset ones fall back (key → user → server default)."""

    requests_per_minute: Mapped[int | None] = mapped_column(Integer, default=None)
    tokens_per_minute: Mapped[int | None] = mapped_column(Integer, default=None)
    max_concurrent: Mapped[int | None] = mapped_column(Integer, default=None)
    monthly_requests: Mapped[int | None] = mapped_column(Integer, default=None)
    monthly_tokens: Mapped[int | None] = mapped_column(Integer, default=None)

    @property
    def limits(self) -> Limits:
        """The limits set on this row."""
        return Limits(**{name: getattr(self, name) for name in LIMIT_FIELDS})

    def set_limits(self, limits: Limits, *, only: Iterable[str] = LIMIT_FIELDS) -> None:
        """Set the `only` fields (all by default) of `limits` on this row."""
        for name in only:
            setattr(self, name, getattr(limits, name))


class User(_Limited, Base):
    """Someone (a person or an app) who holds keys and whose usage is counted."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    keys: Mapped[list[ApiKey]] = relationship(back_populates="user")


class ApiKey(_Limited, Base):
    """An API key, stored as a digest; `prefix` finds it, scopes limit it, limits override the defaults."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    user: Mapped[User] = relationship(back_populates="keys")

    def active(self, now: datetime) -> bool:
        """Neither revoked nor expired at `now`."""
        return self.revoked_at is None and (self.expires_at is None or _aware(self.expires_at) > now)


class UsageEvent(Base):
    """One answered request to a model route, successful or not."""

    __tablename__ = "usage_events"
    __table_args__ = (
        Index("ix_usage_events_key_time", "key_id", "created_at"),
        Index("ix_usage_events_user_time", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    model: Mapped[str | None] = mapped_column(String(128))
    route: Mapped[str] = mapped_column(String(128))
    status: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float]
    queue_ms: Mapped[float | None] = mapped_column(default=None)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    images: Mapped[int] = mapped_column(Integer, default=0)
    client_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    """The client's address (the real one behind trusted proxies)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ModelAlias(Base):
    """A movable alias, shared by every replica on this database."""

    __tablename__ = "model_aliases"

    alias: Mapped[str] = mapped_column(String(256), primary_key=True)
    target: Mapped[str] = mapped_column(String(256))
    """The `id@version` it points at."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoredResponse(Base):
    """A Responses API object kept (`store: true`) for its owner until it expires."""

    __tablename__ = "stored_responses"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    """Who may read or delete it; every lookup is by id and owner."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    """Past this moment (UTC) it is gone to readers and may be purged."""
    document: Mapped[dict[str, Any]] = mapped_column(JSON)


def _aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; they were stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
