"""`AsyncClient`: the asyncio SDK, on `httpx.AsyncClient`; the same calls as `Client`, awaited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
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


class AsyncStream(Generic[T]):
    """The chunks of a streamed answer, as they arrive (`async for`); closes its connection when done."""

    def __init__(self, response: httpx.Response, answer: type[T], client: BaseClient) -> None:
        self._response = response
        self._decoder = SSEDecoder(answer)
        self._client = client

    async def __aiter__(self) -> AsyncIterator[T]:
        try:
            async for line in self._response.aiter_lines():
                event = self._decoder.feed(line)
                if event is DONE:
                    return
                if event is not None:
                    yield event  # type: ignore[misc]
            self._decoder.check_finished()
        except httpx.TransportError as exc:
            raise self._client._transport_error(exc) from None
        finally:
            await self._response.aclose()

    async def close(self) -> None:
        """Stop reading and free the connection."""
        await self._response.aclose()

    async def __aenter__(self) -> AsyncStream[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncClient(BaseClient):
    """The aiserve API for asyncio; configured and retried like `Client`."""

    def __init__(self, *, base_url: str | None = None, api_key: str | None = None, timeout: float | None = None,
                 max_retries: int | None = None, max_retry_wait: float = MAX_WAIT_S) -> None:  # fmt: skip
        super().__init__(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries,
                         max_retry_wait=max_retry_wait)  # fmt: skip
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=self._headers(), timeout=self.timeout)
        self.embeddings = AsyncEmbeddings(self)
        self.chat = AsyncChat(self)
        self.completions = AsyncCompletions(self)
        self.images = AsyncImages(self)
        self.models = AsyncModels(self)
        self.usage = AsyncUsage(self)
        self.keys = AsyncKeys(self)
        self.users = AsyncUsers(self)

    async def send(self, call: Call[T]) -> T:
        """Make the call (with retries) and read its answer."""
        response = await self._send(call, stream=False)
        return self._parse(call, response)

    async def rerank(self, query: str, documents: Sequence[str], *, model: str | None = None, top_n: int | None = None,
               return_documents: bool = True) -> RerankResponse:  # fmt: skip
        """Order `documents` by their relevance to `query`, best first (the best `top_n`)."""
        return await self.send(
            calls.rerank(query, documents, model=model, top_n=top_n, return_documents=return_documents)
        )

    async def stream(self, call: Call[T]) -> AsyncStream[T]:
        """Make the call (retried until the stream starts) and read its events as they come."""
        return AsyncStream(await self._send(call, stream=True), call.answer, self)

    async def _send(self, call: Call[Any], *, stream: bool) -> httpx.Response:
        for attempt in count():
            error: APIError
            try:
                response = await self._http.send(self._build(self._http, call), stream=stream)
            except httpx.TransportError as exc:
                error = self._transport_error(exc)
            else:
                if response.is_success:
                    return response
                await response.aread()
                await response.aclose()
                error = self._status_error(response)
            delay = self._delay(attempt, error)
            if delay is None:
                raise error
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class AsyncResource:
    """A group of calls on an async client."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client


def method(describe: Callable[P, Call[T]]) -> Callable[Concatenate[AsyncResource, P], Coroutine[Any, Any, T]]:
    """A resource method that sends the call `describe` makes and returns its answer."""

    async def send(self: AsyncResource, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._client.send(describe(*args, **kwargs))

    send.__doc__ = describe.__doc__
    return send


class AsyncEmbeddings(AsyncResource):
    """`await client.embeddings.create(input, model=...)`."""

    create = method(calls.embeddings)


class AsyncChatCompletions(AsyncResource):
    """`await client.chat.completions.create(messages=..., model=..., stream=...)`."""

    @overload
    async def create(self, *, messages: Iterable[Message], model: str, stream: Literal[False] = False,
                     **sampling: Any) -> ChatCompletion: ...  # fmt: skip
    @overload
    async def create(self, *, messages: Iterable[Message], model: str, stream: Literal[True], **sampling: Any
                     ) -> AsyncStream[ChatCompletionChunk]: ...  # fmt: skip
    async def create(self, *, messages: Iterable[Message], model: str, stream: bool = False, **sampling: Any
                     ) -> ChatCompletion | AsyncStream[ChatCompletionChunk]:  # fmt: skip
        """A chat completion; with `stream=True`, an async iterator of chunks as they are generated."""
        if stream:
            return await self._client.stream(calls.chat_completion_stream(messages, model=model, **sampling))
        return await self._client.send(calls.chat_completion(messages, model=model, **sampling))

    async def parse(self, *, messages: Iterable[Message], model: str, response_format: type[T], **sampling: Any) -> T:
        """A chat completion held to `response_format`'s JSON Schema (a pydantic model class), read into it."""
        answer = await self.create(messages=messages, model=model, response_format=response_format, **sampling)
        return calls.parsed(answer, response_format)


class AsyncChat(AsyncResource):
    """`client.chat.completions`."""

    def __init__(self, client: AsyncClient) -> None:
        super().__init__(client)
        self.completions = AsyncChatCompletions(client)


class AsyncCompletions(AsyncResource):
    """`await client.completions.create(prompt=..., model=..., stream=...)`."""

    @overload
    async def create(self, *, prompt: str, model: str, stream: Literal[False] = False, **sampling: Any
                     ) -> Completion: ...  # fmt: skip
    @overload
    async def create(self, *, prompt: str, model: str, stream: Literal[True], **sampling: Any
                     ) -> AsyncStream[Completion]: ...  # fmt: skip
    async def create(self, *, prompt: str, model: str, stream: bool = False, **sampling: Any
                     ) -> Completion | AsyncStream[Completion]:  # fmt: skip
        """A text completion of `prompt`; with `stream=True`, an async iterator of chunks."""
        call = calls.completion(prompt, model=model, stream=stream, **sampling)
        return await self._client.stream(call) if stream else await self._client.send(call)


class AsyncImages(AsyncResource):
    """`await client.images.classify(image)`."""

    classify = method(calls.classify)


class AsyncModels(AsyncResource):
    """`await client.models.list()`, `.retrieve(id)`; with an admin key `.load(id)`, `.unload(id)`, and movable
    aliases: `.alias(alias, model)`, `.aliases()`, `.unalias(alias)`."""

    list = method(calls.list_models)
    retrieve = method(calls.retrieve_model)
    load = method(calls.load_model)
    unload = method(calls.unload_model)
    alias = method(calls.set_alias)
    aliases = method(calls.list_aliases)
    unalias = method(calls.remove_alias)


class AsyncUsage(AsyncResource):
    """`await client.usage.get(...)`."""

    get = method(calls.usage)


class AsyncKeys(AsyncResource):
    """API keys, with an admin key."""

    create = method(calls.create_key)
    list = method(calls.list_keys)
    revoke = method(calls.revoke_key)
    set_limits = method(calls.set_key_limits)


class AsyncUsers(AsyncResource):
    """Users, with an admin key."""

    create = method(calls.create_user)
    list = method(calls.list_users)
    set_limits = method(calls.set_user_limits)
