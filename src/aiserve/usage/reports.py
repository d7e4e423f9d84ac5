"""Usage reports: totals, per model and per day, for a user or one key over a time range."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aiserve.usage.tables import UsageEvent


async def summarize(
    session: AsyncSession,
    *,
    user_id: int,
    key_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """Totals (`total_requests`, `successful_requests`, `success_rate`, `avg_response_time_ms`, tokens, images),
    `by_model`, `by_route` and `by_day`, over `[start, end)`."""
    ok = case((UsageEvent.status < 400, 1), else_=0)
    counts = (
        func.count(UsageEvent.id),
        func.coalesce(func.sum(ok), 0),
        func.coalesce(func.sum(UsageEvent.input_tokens), 0),
        func.coalesce(func.sum(UsageEvent.output_tokens), 0),
        func.coalesce(func.sum(UsageEvent.images), 0),
    )

    def scoped(query: Select[Any]) -> Select[Any]:
        query = query.where(UsageEvent.user_id == user_id)
        if key_id is not None:
            query = query.where(UsageEvent.key_id == key_id)
        if start is not None:
            query = query.where(UsageEvent.created_at >= start)
        if end is not None:
            query = query.where(UsageEvent.created_at < end)
        return query

    total = (await session.execute(scoped(select(*counts, func.avg(UsageEvent.latency_ms))))).one()
    day = func.date(UsageEvent.created_at)
    models = (await session.execute(scoped(select(UsageEvent.model, *counts)).group_by(UsageEvent.model))).all()
    routes = (await session.execute(scoped(select(UsageEvent.route, *counts)).group_by(UsageEvent.route)
                                    .order_by(UsageEvent.route))).all()  # fmt: skip
    days = (await session.execute(scoped(select(day, *counts)).group_by(day).order_by(day))).all()
    requests, successful = int(total[0]), int(total[1])
    return {
        "total_requests": requests,
        "successful_requests": successful,
        "success_rate": successful / requests if requests else 0.0,
        "avg_response_time_ms": float(total[5] or 0.0),
        **_slice(total[:5]),
        "by_model": [{"model": row[0], **_slice(row[1:])} for row in models],
        "by_route": [{"route": row[0], **_slice(row[1:])} for row in routes],
        "by_day": [{"day": _day(row[0]), **_slice(row[1:])} for row in days],
    }


def _slice(row: Any) -> dict[str, int]:
    names = ("requests", "successful_requests", "input_tokens", "output_tokens", "images")
    return {name: int(value) for name, value in zip(names, row, strict=True)}


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def month_to_date(
    session: AsyncSession, *, key_id: int, since: datetime, tokens_per_image: int
) -> tuple[int, int]:
    """The requests a key was admitted for (every status but 429) and the tokens they used, since `since`: what
    its monthly quotas have counted, for a limiter that starts afresh."""
    tokens = UsageEvent.input_tokens + UsageEvent.output_tokens + UsageEvent.images * tokens_per_image
    query = select(func.count(UsageEvent.id), func.coalesce(func.sum(tokens), 0)).where(
        UsageEvent.key_id == key_id, UsageEvent.created_at >= since, UsageEvent.status != 429
    )
    requests, used = (await session.execute(query)).one()
    return int(requests), int(used)
