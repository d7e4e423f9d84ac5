"""`/v1/models`: the models this server serves, in OpenAI's shape."""

from __future__ import annotations

from fastapi import APIRouter

from aiserve.api.deps import ServicesDep
from aiserve.api.policy import policy
from aiserve.protocol.models import ModelCard, ModelList
from aiserve.registry.protocol import ModelEntry, ModelLookup

router = APIRouter(prefix="/v1", tags=["models"])


def card(entry: ModelEntry, registry: ModelLookup) -> ModelCard:
    """A registry entry as the API shows it, with its static aliases and the movable ones pointing at it."""
    return ModelCard(
        id=entry.name,
        version=entry.spec.version,
        created=entry.created,
        task=entry.spec.task,
        status=entry.state.value,
        aliases=[*entry.spec.aliases, *registry.aliases_of(entry)],
        runtime=entry.runtime or entry.spec.backend,
        dimensions=entry.info.get("dimensions"),
        max_input_tokens=entry.info.get("max_input_tokens"),
        num_labels=entry.info.get("num_labels"),
        vision=entry.info.get("vision"),
        device=entry.info.get("device"),
        error=entry.error,
    )


@router.get("/models", operation_id="models-list")
@policy("inference")
async def list_models(services: ServicesDep) -> ModelList:
    """Every model, whatever its state."""
    return ModelList(data=[card(e, services.registry) for e in services.registry.entries()])


@router.get("/models/{model:path}", operation_id="models-retrieve")
@policy("inference")
async def retrieve_model(model: str, services: ServicesDep) -> ModelCard:
    """One model by id or alias; 404 if unknown."""
    return card(services.registry.resolve(model), services.registry)
