"""`GET /v1/usage`: the caller's own usage; an admin may ask for any user's or key's."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter

from aiserve.api.deps import PrincipalDep, ServicesDep
from aiserve.api.policy import policy
from aiserve.errors import Forbidden
from aiserve.protocol.usage import UsageReport
from aiserve.usage import repository
from aiserve.usage.reports import summarize

router = APIRouter(prefix="/v1", tags=["usage"])


@router.get("/usage", operation_id="usage-get")
@policy("usage:read")
async def usage(
    principal: PrincipalDep,
    services: ServicesDep,
    start: datetime | None = None,
    end: datetime | None = None,
    user: str | None = None,
    key: str | None = None,
) -> UsageReport:
    """Requests, success rate, response time, tokens and images over `[start, end)` (ISO 8601), by model and by
    day. `user` (a name) and `key` (an id or prefix) need an admin key; without them the report is the caller's."""
    if (user or key) and not principal.allows("admin"):
        raise Forbidden("Only an admin key may ask for another user's or key's usage.", param="user")
    async with services.sessions() as session:
        user_id, user_name, key_id, prefix = principal.user_id, principal.user, None, None
        if key:
            row = await repository.find_key(session, key=key)
            user_id, user_name, key_id, prefix = row.user_id, row.user.name, row.id, row.prefix
        elif user:
            holder = await repository.find_user(session, name=user)
            user_id, user_name = holder.id, holder.name
        report = await summarize(session, user_id=user_id, key_id=key_id, start=start, end=end)
    return UsageReport(user_id=user_id, user=user_name, key=prefix, start=start, end=end, **report)
