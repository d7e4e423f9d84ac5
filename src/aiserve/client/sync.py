"""`Client`: the blocking SDK, on `httpx.Client`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import count
from types import TracebackType
from typing import Any, Concatenate, Generic, Literal, ParamSpec, TypeVar, overload

import httpx
from pydantic import BaseModel

from aiserve.client import calls
from aiserve.client.base import DONE, BaseClient, SSEDecoder
from aiserve.client.calls import Call, Message
from aiserve.client.errors import APIError
from aiserve.client.retry import MAX_WAIT_S
from aiserve.protocol.chat import ChatCompletion, ChatCompletionChunk, Completion
from aiserve.protocol.rerank import RerankResponse

T = TypeVar("T", bound=BaseModel)
P = ParamSpec("P")


class Stream(Generic[T]):
    """The chunks of a streamed answer, as they arrive; closes its connection when done (or use `with`)."""

    def __init__(self, response: httpx.Response, answer: type[T], client: BaseClient) -> None:
        self._response = response
        self._decoder = SSEDecoder(answer)
        self._client = client

    def __iter__(self) -> Iterator[T]:
        try:
            for line in self._response.iter_lines():
                event = self._decoder.feed(line)
                if event is DONE:
                    return
                if event is not None:
                    yield event  # type: ignore[misc]
            self._decoder.check_finished()
        except httpx.TransportError as exc:
            raise self._client._transport_error(exc) from None
        finally:
            self._response.close()

    def close(self) -> None:
        """Stop reading and free the connection."""
        self._response.close()

    def __enter__(self) -> Stream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Client(BaseClient):
    """The aiserve API: `Client(base_url=..., api_key=...)`, or `AISERVE_BASE_URL` / `AISERVE_API_KEY` (also from
    `.env`). Failed calls are retried (connection errors, 408, 429, 503, 5xx) up to `max_retries` times."""

    def __init__(self, *, base_url: str | None = None, api_key: str | None = None, timeout: float | None = None,
                 max_retries: int | None = None, max_retry_wait: float = MAX_WAIT_S) -> None:  # fmt: skip
        super().__init__(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries,
                         max_retry_wait=max_retry_wait)  # fmt: skip
        self._http = httpx.Client(base_url=self.base_url, headers=self._headers(), timeout=self.timeout)
        self.embeddings = Embeddings(self)
        self.chat = Chat(self)
        self.completions = Completions(self)
        self.images = Images(self)
        self.models = Models(self)
        self.usage = Usage(self)
        self.keys = Keys(self)
        self.users = Users(self)

    def send(self, call: Call[T]) -> T:
        """Make the call (with retries) and read its answer."""
        response = self._send(call, stream=False)
        return self._parse(call, response)

    def rerank(self, query: str, documents: Sequence[str], *, model: str | None = None, top_n: int | None = None,
               return_documents: bool = True) -> RerankResponse:  # fmt: skip
        """Order `documents` by their relevance to `query`, best first (the best `top_n`)."""
        return self.send(calls.rerank(query, documents, model=model, top_n=top_n, return_documents=return_documents))

    def stream(self, call: Call[T]) -> Stream[T]:
        """Make the call (retried until the stream starts) and read its events as they come."""
        return Stream(self._send(call, stream=True), call.answer, self)

    def _send(self, call: Call[Any], *, stream: bool) -> httpx.Response:
        for attempt in count():
            error: APIError
            try:
                response = self._http.send(self._build(self._http, call), stream=stream)
            except httpx.TransportError as exc:
                error = self._transport_error(exc)
            else:
                if response.is_success:
                    return response
                response.read()
                response.close()
                error = self._status_error(response)
            delay = self._delay(attempt, error)
            if delay is None:
                raise error
            time.sleep(delay)
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class Resource:
    """A group of calls on a client."""

    def __init__(self, client: Client) -> None:
        self._client = client


def method(describe: Callable[P, Call[T]]) -> Callable[Concatenate[Resource, P], T]:
    """A resource method that sends the call `describe` makes and returns its answer."""

    def send(self: Resource, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._client.send(describe(*args, **kwargs))

    send.__doc__ = describe.__doc__
    return send


class Embeddings(Resource):
    """`client.embeddings.create(input, model=...)`."""

    create = method(calls.embeddings)


class ChatCompletions(Resource):
    """`client.chat.completions.create(messages=..., model=..., stream=...)`."""

    @overload
    def create(self, *, messages: Iterable[Message], model: str, stream: Literal[False] = False, **sampling: Any
               ) -> ChatCompletion: ...  # fmt: skip
    @overload
    def create(self, *, messages: Iterable[Message], model: str, stream: Literal[True], **sampling: Any
               ) -> Stream[ChatCompletionChunk]: ...  # fmt: skip
    def create(self, *, messages: Iterable[Message], model: str, stream: bool = False, **sampling: Any
               ) -> ChatCompletion | Stream[ChatCompletionChunk]:  # fmt: skip
        """A chat completion; with `stream=True`, an iterator of chunks as they are generated. `sampling`:
        any field of the request (`max_tokens`, `temperature`, `tools`, `response_format`...); protocol models
        such as `ToolDefinition` are sent as their JSON."""
        if stream:
            return self._client.stream(calls.chat_completion_stream(messages, model=model, **sampling))
        return self._client.send(calls.chat_completion(messages, model=model, **sampling))

    def parse(self, *, messages: Iterable[Message], model: str, response_format: type[T], **sampling: Any) -> T:
        """A chat completion held to `response_format`'s JSON Schema (a pydantic model class), read into it."""
        answer = self.create(messages=messages, model=model, response_format=response_format, **sampling)
        return calls.parsed(answer, response_format)


class Chat(Resource):
    """`client.chat.completions`."""

    def __init__(self, client: Client) -> None:
        super().__init__(client)
        self.completions = ChatCompletions(client)


class Completions(Resource):
    """`client.completions.create(prompt=..., model=..., stream=...)`."""

    @overload
    def create(self, *, prompt: str, model: str, stream: Literal[False] = False, **sampling: Any) -> Completion: ...
    @overload
    def create(self, *, prompt: str, model: str, stream: Literal[True], **sampling: Any) -> Stream[Completion]: ...
    def create(self, *, prompt: str, model: str, stream: bool = False, **sampling: Any
               ) -> Completion | Stream[Completion]:  # fmt: skip
        """A text completion of `prompt`; with `stream=True`, an iterator of chunks."""
        call = calls.completion(prompt, model=model, stream=stream, **sampling)
        return self._client.stream(call) if stream else self._client.send(call)


class Images(Resource):
    """`client.images.classify(image)`: a path, bytes, a binary file or a PIL image."""

    classify = method(calls.classify)


class Models(Resource):
    """`client.models.list()`, `.retrieve(id)`; with an admin key `.load(id)`, `.unload(id)`, and movable aliases:
    `.alias(alias, model)`, `.aliases()`, `.unalias(alias)`."""

    list = method(calls.list_models)
    retrieve = method(calls.retrieve_model)
    load = method(calls.load_model)
    unload = method(calls.unload_model)
    alias = method(calls.set_alias)
    aliases = method(calls.list_aliases)
    unalias = method(calls.remove_alias)


class Usage(Resource):
    """`client.usage.get(start=..., end=...)`."""

    get = method(calls.usage)


class Keys(Resource):
    """API keys, with an admin key: `create`, `list`, `revoke`, `set_limits`."""

    create = method(calls.create_key)
    list = method(calls.list_keys)
    revoke = method(calls.revoke_key)
    set_limits = method(calls.set_key_limits)


class Users(Resource):
    """Users, with an admin key: `create`, `list`, `set_limits`."""

    create = method(calls.create_user)
    list = method(calls.list_users)
    set_limits = method(calls.set_user_limits)
