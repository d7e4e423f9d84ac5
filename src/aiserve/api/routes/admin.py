"""`/v1/admin`: load and unload models on a running server, movable aliases; users and API keys. Every route
needs `admin`."""

from __future__ import annotations

from fastapi import APIRouter

from aiserve.api.deps import ServicesDep
from aiserve.api.policy import policy
from aiserve.api.routes.models import card
from aiserve.errors import ModelLoadFailed
from aiserve.protocol.keys import KeyCreate, KeyCreated, KeyList, KeyOut, Limits, UserCreate, UserList, UserOut
from aiserve.protocol.models import ModelAlias, ModelAliasList, ModelCard, ModelRef
from aiserve.registry.protocol import ModelManager, ModelState
from aiserve.usage import admin

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post("/models/load", operation_id="admin-load-model")
@policy("admin")
async def load_model(body: ModelRef, services: ServicesDep) -> ModelCard:
    """Prepare (if needed), load and warm a catalogue model, then serve it beside the others. Answers when it
    is ready; a failed load answers 500 with the reason and leaves the other models serving."""
    entry = await services.registry.load(body.model)
    if entry.state is ModelState.FAILED:
        raise ModelLoadFailed(f"The model '{entry.spec.key}' failed to load: {entry.error}")
    return card(entry, services.registry)


@router.post("/models/unload", operation_id="admin-unload-model")
@policy("admin")
async def unload_model(body: ModelRef, services: ServicesDep) -> ModelCard:
    """Stop serving a model. Requests already queued on it finish first; new ones no longer find it."""
    entry = await services.registry.unload(body.model)
    result = card(entry, services.registry)
    result.status = "unloaded"
    return result


@router.get("/aliases", operation_id="admin-list-aliases")
@policy("admin")
async def list_aliases(services: ServicesDep) -> ModelAliasList:
    """Every movable alias and the model it points at (with its card while that model is loaded)."""
    registry = services.registry
    return ModelAliasList(data=[_alias(registry, alias, target) for alias, target in registry.aliases()])


@router.put("/aliases/{alias:path}", operation_id="admin-set-alias")
@policy("admin")
async def set_alias(alias: str, body: ModelRef, services: ServicesDep) -> ModelAlias:
    """Point a movable alias at a catalogue model, loading the model first if needed: requests naming the alias
    go to it from now on, and after a restart. 400 for a name that cannot be an alias (empty, with `@` or `/`);
    a failed load answers 500 and leaves the alias where it was."""
    entry = await services.registry.set_alias(alias, body.model)
    return ModelAlias(alias=alias, model=entry.spec.key, card=card(entry, services.registry))


@router.delete("/aliases/{alias:path}", operation_id="admin-remove-alias")
@policy("admin")
async def remove_alias(alias: str, services: ServicesDep) -> ModelAlias:
    """Drop a movable alias (404 if there is none); the model it pointed at keeps serving under its own names."""
    target = await services.registry.remove_alias(alias)
    return _alias(services.registry, alias, target)


def _alias(registry: ModelManager, alias: str, target: str) -> ModelAlias:
    entry = registry.registered(target)
    return ModelAlias(alias=alias, model=target, card=None if entry is None else card(entry, registry))


@router.get("/users", operation_id="admin-list-users")
@policy("admin")
async def list_users(services: ServicesDep) -> UserList:
    """Every user, oldest first."""
    async with services.sessions() as session:
        return UserList(data=await admin.list_users(session))


@router.post("/users", operation_id="admin-create-user", status_code=201)
@policy("admin")
async def create_user(body: UserCreate, services: ServicesDep) -> UserOut:
    """Add a user (409 if the name is taken), with default limits for the user's keys."""
    async with services.sessions() as session, session.begin():
        return await admin.create_user(session, body)


@router.patch("/users/{name}/limits", operation_id="admin-set-user-limits")
@policy("admin")
async def set_user_limits(name: str, body: Limits, services: ServicesDep) -> UserOut:
    """Change a user's default limits: the fields given are set (null clears one), the others stay. Servers
    apply them within `auth.cache_s`."""
    async with services.sessions() as session, session.begin():
        return await admin.set_user_limits(session, name, body)


@router.get("/keys", operation_id="admin-list-keys")
@policy("admin")
async def list_keys(services: ServicesDep, user: str | None = None) -> KeyList:
    """Every key, or one user's: prefixes and states, never the keys themselves."""
    async with services.sessions() as session:
        return KeyList(data=await admin.list_keys(session, user))


@router.post("/keys", operation_id="admin-create-key", status_code=201)
@policy("admin")
async def create_key(body: KeyCreate, services: ServicesDep) -> KeyCreated:
    """Make a key for a user; the answer holds the key, which is never shown again."""
    async with services.sessions() as session, session.begin():
        return await admin.create_key(session, body)


@router.patch("/keys/{key}/limits", operation_id="admin-set-key-limits")
@policy("admin")
async def set_key_limits(key: str, body: Limits, services: ServicesDep) -> KeyOut:
    """Change a key's own limits (by id or prefix): the fields given are set (null clears one, so the user's
    applies), the others stay. Servers apply them within `auth.cache_s`."""
    async with services.sessions() as session, session.begin():
        return await admin.set_key_limits(session, key, body)


@router.delete("/keys/{key}", operation_id="admin-revoke-key")
@policy("admin")
async def revoke_key(key: str, services: ServicesDep) -> KeyOut:
    """Revoke a key by id or prefix; every server refuses it within `auth.cache_s`."""
    async with services.sessions() as session, session.begin():
        return await admin.revoke_key(session, key)
