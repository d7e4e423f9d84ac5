"""Every call the SDK makes, as data: method, path, body and the model its answer is read into. The sync and the
async client both send these, so each endpoint is described once."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Generic, TypeVar
from urllib.parse import quote

from pydantic import BaseModel

from aiserve.client.errors import LengthFinishReasonError
from aiserve.protocol.chat import ChatCompletion, ChatCompletionChunk, ChatMessage, Completion
from aiserve.protocol.classify import ClassifyResponse
from aiserve.protocol.embeddings import EmbeddingResponse
from aiserve.protocol.keys import KeyCreated, KeyList, KeyOut, Limits, UserList, UserOut
from aiserve.protocol.models import ModelAlias, ModelAliasList, ModelCard, ModelList
from aiserve.protocol.rerank import RerankResponse
from aiserve.protocol.usage import UsageReport

T = TypeVar("T", bound=BaseModel)

ImageInput = str | Path | bytes | IO[bytes] | Any
"""A path, the file's bytes, an open binary file, or a PIL image."""
Message = ChatMessage | Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One HTTP call and how to read its answer."""

    method: str
    path: str
    answer: type[T]
    json: Any = None
    params: Mapping[str, str] | None = None


def _dump(value: Any) -> Any:
    """A field's JSON: protocol models (`ToolDefinition`, `ChatMessage`...) dumped, in lists and mappings too; a
    pydantic model class as `response_format` becomes its JSON Schema."""
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_none=True, by_alias=True)
    if isinstance(value, list | tuple):
        return [_dump(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _dump(item) for key, item in value.items()}
    return value


def response_format(value: Any) -> Any:
    """`response_format` as the server takes it: a pydantic model class becomes a `json_schema` format."""
    if isinstance(value, type) and issubclass(value, BaseModel):
        schema = {"name": value.__name__, "schema": value.model_json_schema(), "strict": True}
        return {"type": "json_schema", "json_schema": schema}
    return value


def parsed(answer: ChatCompletion, model: type[T]) -> T:
    """The answer's JSON read into `model`; `LengthFinishReasonError` when it was cut short."""
    choice = answer.choices[0]
    if choice.finish_reason == "length":
        raise LengthFinishReasonError("The answer ran out of tokens before its JSON was complete: raise max_tokens.")
    return model.model_validate_json(choice.message.content or "")


def _body(**fields: Any) -> dict[str, Any]:
    """The JSON body: the fields that are set."""
    return {name: _dump(value) for name, value in fields.items() if value is not None}


def embeddings(input: str | Sequence[str], *, model: str, encoding_format: str = "float",
               dimensions: int | None = None) -> Call[EmbeddingResponse]:  # fmt: skip
    """Embed one text or several."""
    body = _body(input=input if isinstance(input, str) else list(input), model=model,
                 encoding_format=encoding_format, dimensions=dimensions)  # fmt: skip
    return Call("POST", "/v1/embeddings", EmbeddingResponse, body)


def rerank(query: str, documents: Sequence[str], *, model: str | None = None, top_n: int | None = None,
           return_documents: bool = True) -> Call[RerankResponse]:  # fmt: skip
    """Order documents by their relevance to a query, best first."""
    body = _body(model=model, query=query, documents=list(documents), top_n=top_n,
                 return_documents=return_documents)  # fmt: skip
    return Call("POST", "/v1/rerank", RerankResponse, body)


def chat_completion(messages: Iterable[Message], *, model: str, **sampling: Any) -> Call[ChatCompletion]:
    """A chat completion, answered whole."""
    return Call("POST", "/v1/chat/completions", ChatCompletion, _chat_body(messages, model, False, sampling))


def chat_completion_stream(messages: Iterable[Message], *, model: str, **sampling: Any) -> Call[ChatCompletionChunk]:
    """A chat completion, streamed in chunks."""
    return Call("POST", "/v1/chat/completions", ChatCompletionChunk, _chat_body(messages, model, True, sampling))


def _chat_body(messages: Iterable[Message], model: str, stream: bool, sampling: dict[str, Any]) -> dict[str, Any]:
    if "response_format" in sampling:
        sampling = {**sampling, "response_format": response_format(sampling["response_format"])}
    return _body(model=model, messages=[_dump(m) for m in messages], stream=stream or None, **sampling)


def completion(prompt: str, *, model: str, stream: bool = False, **sampling: Any) -> Call[Completion]:
    """A text completion (streamed chunks have the same shape)."""
    return Call("POST", "/v1/completions", Completion, _body(model=model, prompt=prompt, stream=stream or None,
                                                             **sampling))  # fmt: skip


def image_bytes(image: ImageInput) -> bytes:
    """The encoded image: a file read, bytes as they are, a PIL image saved as PNG."""
    if isinstance(image, bytes):
        return image
    if isinstance(image, str | Path):
        return Path(image).read_bytes()
    if hasattr(image, "read"):
        data: bytes = image.read()
        return data
    if hasattr(image, "save"):  # a PIL image
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()
    raise TypeError(f"an image is a path, bytes, a binary file or a PIL image, not {type(image).__name__}")


def classify(image: ImageInput, *, model: str | None = None, top_k: int | None = None,
             filename: str | None = None) -> Call[ClassifyResponse]:  # fmt: skip
    """Classify one image (sent as base64 JSON)."""
    if filename is None and isinstance(image, str | Path):
        filename = Path(image).name
    encoded = base64.b64encode(image_bytes(image)).decode()
    return Call("POST", "/v1/classify", ClassifyResponse, _body(image=encoded, model=model, top_k=top_k,
                                                                filename=filename))  # fmt: skip


def list_models() -> Call[ModelList]:
    """The models the server knows, and their states."""
    return Call("GET", "/v1/models", ModelList)


def retrieve_model(model: str) -> Call[ModelCard]:
    """One model's card."""
    return Call("GET", f"/v1/models/{model}", ModelCard)


def load_model(model: str) -> Call[ModelCard]:
    """Load a catalogue model on the running server (admin)."""
    return Call("POST", "/v1/admin/models/load", ModelCard, {"model": model})


def unload_model(model: str) -> Call[ModelCard]:
    """Stop serving a model (admin)."""
    return Call("POST", "/v1/admin/models/unload", ModelCard, {"model": model})


def set_alias(alias: str, model: str) -> Call[ModelAlias]:
    """Point a movable alias at a model, loading it first if needed (admin); kept across restarts."""
    return Call("PUT", f"/v1/admin/aliases/{quote(alias, safe='')}", ModelAlias, {"model": model})


def list_aliases() -> Call[ModelAliasList]:
    """Every movable alias and the model it points at (admin)."""
    return Call("GET", "/v1/admin/aliases", ModelAliasList)


def remove_alias(alias: str) -> Call[ModelAlias]:
    """Drop a movable alias (admin)."""
    return Call("DELETE", f"/v1/admin/aliases/{quote(alias, safe='')}", ModelAlias)


def usage(*, start: datetime | None = None, end: datetime | None = None, user: str | None = None,
          key: str | None = None) -> Call[UsageReport]:  # fmt: skip
    """The caller's usage (an admin key may name a user or a key) over `[start, end)`."""
    params = {"start": start and start.isoformat(), "end": end and end.isoformat(), "user": user, "key": key}
    return Call("GET", "/v1/usage", UsageReport, params={k: v for k, v in params.items() if v})


def create_key(user: str, *, name: str = "", scopes: Sequence[str] = ("inference", "usage:read"),
               expires_in_days: int | None = None, limits: Limits | None = None) -> Call[KeyCreated]:  # fmt: skip
    """Make a key for a user (admin); the answer holds the key, this once."""
    body = _body(user=user, name=name, scopes=list(scopes), expires_in_days=expires_in_days, limits=limits)
    return Call("POST", "/v1/admin/keys", KeyCreated, body)


def list_keys(*, user: str | None = None) -> Call[KeyList]:
    """Every key, or one user's (admin)."""
    return Call("GET", "/v1/admin/keys", KeyList, params={"user": user} if user else None)


def revoke_key(key: str) -> Call[KeyOut]:
    """Revoke a key by id or prefix (admin)."""
    return Call("DELETE", f"/v1/admin/keys/{key}", KeyOut)


def set_key_limits(key: str, limits: Limits) -> Call[KeyOut]:
    """Set the limits `limits` names on a key; `None` in a named one clears it (admin)."""
    return Call("PATCH", f"/v1/admin/keys/{key}/limits", KeyOut, limits.model_dump(include=limits.model_fields_set))


def create_user(name: str, *, limits: Limits | None = None) -> Call[UserOut]:
    """Add a user (admin), with default limits for the user's keys."""
    return Call("POST", "/v1/admin/users", UserOut, _body(name=name, limits=limits))


def list_users() -> Call[UserList]:
    """Every user (admin)."""
    return Call("GET", "/v1/admin/users", UserList)


def set_user_limits(name: str, limits: Limits) -> Call[UserOut]:
    """Set the limits `limits` names on a user (admin)."""
    return Call("PATCH", f"/v1/admin/users/{name}/limits", UserOut, limits.model_dump(include=limits.model_fields_set))
