"""Route policies: what a route needs (the key scope, or none for a public route) and how it is metered (counted
against rate limits and quotas and written to the usage ledger, and by what: requests, tokens or images).

Each route declares its policy where it is defined, with `@policy(...)` under the router's decorator. `PolicyTable`
finds the policy of a request before it reaches the route, so authentication and limits run in middleware, before
any body is read. A route without a policy is an error when the app is built; an unknown path needs a key (deny by
default)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, TypeVar

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from aiserve.protocol.keys import Scope as KeyScope

F = TypeVar("F", bound=Callable[..., Any])

Api = Literal["aiserve", "openai", "anthropic"]
"""The API family whose conventions a route follows."""

AnyKey = Literal["key"]
"""The scope of a route that any valid key may call, whatever scopes it carries (`GET /v1/me`)."""

_ATTRIBUTE = "__aiserve_policy__"


class Metering(StrEnum):
    """How a route's use is counted."""

    NONE = "none"
    """Not metered: no limits, no ledger (public routes, listings, usage reports, admin)."""
    REQUESTS = "requests"
    """Each request counts; it uses no tokens, so token limits do not hold it back."""
    TOKENS = "tokens"
    """Requests and the tokens read and generated."""
    IMAGES = "images"
    """Requests and the images classified (each counts as `ratelimit.tokens_per_image` tokens)."""


@dataclass(frozen=True, slots=True)
class RoutePolicy:
    """What a route needs and how it is counted."""

    scope: KeyScope | AnyKey | None
    """The key scope it needs; `key`: any valid key; None: anyone may call it."""
    metering: Metering = Metering.NONE
    prompt: bool = False
    """Its body is a prompt for a language model: held to `models.chat.max_body_bytes`, far below the general
    limit, so an oversized conversation is refused before it is read or parsed."""
    api: Api = "aiserve"
    """Whose conventions it follows. `openai` and `anthropic`: a body outside its schema is answered 400, as those
    APIs answer it (aiserve's own routes answer FastAPI's 422); `anthropic`: errors take Anthropic's shape."""

    @property
    def metered(self) -> bool:
        """Whether it counts against limits and quotas and goes in the ledger."""
        return self.metering is not Metering.NONE

    @property
    def uses_tokens(self) -> bool:
        """Whether its answers cost tokens (token limits and quotas apply)."""
        return self.metering in (Metering.TOKENS, Metering.IMAGES)


PUBLIC = RoutePolicy(scope=None)
DENY_BY_DEFAULT = RoutePolicy(scope="inference")
"""For paths no route matches: a key is still needed, so probing reveals nothing."""


def policy(
    scope: KeyScope | AnyKey | None, metering: Metering = Metering.NONE, *, prompt: bool = False, api: Api = "aiserve"
) -> Callable[[F], F]:
    """Declare a route's policy: `@policy("inference", Metering.TOKENS)` under `@router.post(...)`."""
    chosen = RoutePolicy(scope, metering, prompt, api)

    def declare(endpoint: F) -> F:
        setattr(endpoint, _ATTRIBUTE, chosen)
        return endpoint

    return declare


def public(endpoint: F) -> F:
    """Declare a route anyone may call, without a key."""
    return policy(None)(endpoint)


def declared(route: BaseRoute, docs_paths: frozenset[str]) -> RoutePolicy:
    """The policy a route declared; the framework's own API documentation routes are public."""
    if isinstance(route, APIRoute):
        found = getattr(route.endpoint, _ATTRIBUTE, None)
        if isinstance(found, RoutePolicy):
            return found
    elif getattr(route, "path", None) in docs_paths:
        return PUBLIC
    raise TypeError(f"route {getattr(route, 'path', route)!r} declares no policy (use @policy under its decorator)")


def flatten(routes: list[BaseRoute]) -> list[BaseRoute]:
    """The routes themselves, with each included router opened (FastAPI keeps an included router whole, as one
    route that dispatches to its own; ours are included without a prefix, their routes carry their full path)."""
    flat: list[BaseRoute] = []
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            if getattr(getattr(route, "include_context", None), "prefix", ""):
                raise ValueError("include routers without a prefix: give the APIRouter its prefix")
            flat.extend(flatten(included.routes))
        else:
            flat.append(route)
    return flat


class PolicyTable:
    """Every route of an app with its policy, matched the way the router will match it."""

    def __init__(self, routes: list[BaseRoute], docs_paths: frozenset[str]) -> None:
        self._routes = [(route, declared(route, docs_paths)) for route in flatten(routes)]

    def __iter__(self) -> Iterator[tuple[str, RoutePolicy]]:
        """Each route's template and policy."""
        return ((_template(route), chosen) for route, chosen in self._routes)

    def match(self, scope: Scope) -> tuple[str, RoutePolicy]:
        """The route template a request will reach and its policy; a path known only under another method keeps
        its route's policy (the answer is 405), an unknown one is `unmatched` and needs a key."""
        partial: tuple[str, RoutePolicy] | None = None
        for route, chosen in self._routes:
            found, _ = route.matches(scope)
            if found is Match.FULL:
                return _template(route), chosen
            if found is Match.PARTIAL and partial is None:
                partial = (_template(route), chosen)
        return partial or ("unmatched", DENY_BY_DEFAULT)


def _template(route: BaseRoute) -> str:
    """The route's path as the API documents it (`/v1/models/{model}`)."""
    return str(getattr(route, "path_format", None) or getattr(route, "path", "unmatched"))
