"""`GET /v1/me`: the caller's own key, so a client (the web console) can tell what it may do before it tries."""

from __future__ import annotations

from fastapi import APIRouter

from aiserve.api.deps import PrincipalDep
from aiserve.api.policy import policy
from aiserve.protocol.keys import SCOPES, Caller

router = APIRouter(prefix="/v1", tags=["keys"])


@router.get("/me", operation_id="keys-me")
@policy("key")
async def me(principal: PrincipalDep) -> Caller:
    """The key this request carries: its prefix, its holder, its scopes and limits, never the key itself. Any
    valid key may ask, whatever its scopes."""
    return Caller(
        key_id=principal.key_id,
        key_prefix=principal.key_prefix,
        user_id=principal.user_id,
        user=principal.user,
        scopes=[scope for scope in SCOPES if scope in principal.scopes],
        limits=principal.limits,
    )
