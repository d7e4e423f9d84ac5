"""`/v1/responses`, OpenAI's Responses API, as a translation over the chat service: the request becomes a chat
completion request (input items to messages, function tools, `text.format` to `response_format`), the chat
service answers it with everything it enforces (limits, images, grammars, the ledger), and the answer becomes a
response object, or a stream of `response.*` events. Stored responses are kept per key, with their conversation,
for `previous_response_id`."""

from __future__ import annotations

import itertools
import re
import time
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from aiserve.errors import AiserveError, InvalidInput, NotFound
from aiserve.protocol import chat as wire
from aiserve.protocol.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatMessage,
    ImagePart,
    ImageUrl,
    JsonObjectFormat,
    JsonSchemaFormat,
    JsonSchemaResponseFormat,
    NamedToolChoice,
    StreamOptions,
    TextPart,
    ToolCall,
    ToolDefinition,
)
from aiserve.protocol.responses import (
    REFUSED,
    DeletedResponse,
    FunctionCallItem,
    IncompleteDetails,
    InputImage,
    MessageItem,
    OutputFunctionCall,
    OutputItem,
    OutputMessage,
    OutputTextPart,
    ResponseError,
    ResponseObject,
    ResponseRequest,
    ResponseUsage,
    TextFormatJsonObject,
    TextFormatJsonSchema,
)
from aiserve.services.chat import ChatService
from aiserve.services.meter import Meter
from aiserve.settings import Settings

NamedEvent = tuple[str, dict[str, Any]]
"""A stream event's name and its data."""

_RENAMED = {
    "response_format": "text.format",
    "max_tokens": "max_output_tokens",
    "messages": "input",
    "logprobs": "include",
}
"""Chat parameters the chat service may name in an error, as the Responses API names them."""

_MESSAGE_PARAM = re.compile(r"^messages\[(\d+)\](.*)$")


class ResponseStore(Protocol):
    """Where responses are kept, per owner, until they expire."""

    async def get(self, owner: str, response_id: str) -> dict[str, Any] | None:
        """The document, or None when absent, another owner's or expired."""
        ...

    async def put(self, owner: str, response_id: str, document: dict[str, Any], ttl_s: float) -> None:
        """Keep a document for `ttl_s` seconds."""
        ...

    async def delete(self, owner: str, response_id: str) -> bool:
        """Forget a live document of `owner`; whether there was one."""
        ...


def _ident(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass(slots=True)
class _Turn:
    """A response request made ready: the chat request, the conversation it continues with its own input (what is
    stored), the response's fields known before the answer, and where each chat message came from."""

    chat: ChatCompletionRequest
    history: list[ChatMessage]
    shell: ResponseObject
    origin: list[int | None]
    """Per chat message, the index of the input item it came from (None: instructions or an earlier response)."""


def _part(part: Any) -> TextPart | ImagePart:
    if isinstance(part, InputImage):
        assert part.image_url is not None  # the schema requires it
        return ImagePart(type="image_url", image_url=ImageUrl(url=part.image_url, detail=_detail(part.detail)))
    return TextPart(text=part.text)


def _detail(detail: str | None) -> Any:
    return "high" if detail == "original" else detail


def _messages(request: ResponseRequest) -> tuple[list[ChatMessage], list[int]]:
    """The input as chat messages, and the input item each came from. Function calls join the assistant turn
    before them (or make one); a call's output is a `tool` turn."""
    if isinstance(request.input, str):
        return [ChatMessage(role="user", content=request.input)], [0]
    messages: list[ChatMessage] = []
    origin: list[int] = []
    for index, item in enumerate(request.input):
        if isinstance(item, MessageItem):
            content = item.content if isinstance(item.content, str) else [_part(p) for p in item.content]
            messages.append(ChatMessage(role=item.role, content=content))
        elif isinstance(item, FunctionCallItem):
            call = ToolCall(id=item.call_id, function=wire.FunctionCall(name=item.name, arguments=item.arguments))
            last = messages[-1] if messages else None
            if last is not None and last.role == "assistant":
                last.tool_calls = [*(last.tool_calls or []), call]
                continue
            messages.append(ChatMessage(role="assistant", content=None, tool_calls=[call]))
        else:
            messages.append(ChatMessage(role="tool", tool_call_id=item.call_id, content=item.text()))
        origin.append(index)
    return messages, origin


def _response_format(request: ResponseRequest) -> Any:
    found = request.text.format if request.text is not None else None
    if isinstance(found, TextFormatJsonObject):
        return JsonObjectFormat(type="json_object")
    if isinstance(found, TextFormatJsonSchema):
        schema = JsonSchemaFormat.model_validate(found.model_dump(by_alias=True, exclude={"type"}))
        return JsonSchemaResponseFormat(type="json_schema", json_schema=schema)
    return None


def _tool_choice(request: ResponseRequest) -> Any:
    choice = request.tool_choice
    if choice is None or isinstance(choice, str):
        return choice
    return NamedToolChoice(type="function", function=wire.NamedFunction(name=choice.name))


def refuse_unsupported(request: ResponseRequest) -> None:
    """400 naming the first parameter this server cannot honour."""
    for name, why in REFUSED.items():
        if getattr(request, name) is not None:
            raise InvalidInput(f"'{name}' is not supported: {why}.", param=name)
    logprobs = bool(request.include)
    if request.top_logprobs is not None and not logprobs:
        raise InvalidInput("'top_logprobs' needs include: ['message.output_text.logprobs'].", param="top_logprobs")


def to_chat(request: ResponseRequest, previous: list[ChatMessage]) -> _Turn:
    """The chat request a response request means, continuing `previous` (a stored response's conversation); a
    conversation the chat request cannot hold (too many messages once continued) is refused naming `input`."""
    refuse_unsupported(request)
    try:
        return _to_chat(request, previous)
    except ValidationError as exc:
        first = exc.errors(include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidInput(f"The conversation cannot be answered: {where}: {first['msg']}.", param="input") from None


def _to_chat(request: ResponseRequest, previous: list[ChatMessage]) -> _Turn:
    given, given_origin = _messages(request)
    history = [*previous, *given]
    system = [ChatMessage(role="system", content=request.instructions)] if request.instructions is not None else []
    origin: list[int | None] = [None] * (len(system) + len(previous)) + list(given_origin)
    tools = [
        ToolDefinition(type="function", function=wire.FunctionDefinition(
            name=t.name, description=t.description, parameters=t.parameters, strict=t.strict))
        for t in request.tools or ()
    ]  # fmt: skip
    logprobs = bool(request.include)
    chat = ChatCompletionRequest(
        model=request.model, messages=[*system, *history], max_completion_tokens=request.max_output_tokens,
        temperature=request.temperature, top_p=request.top_p, tools=tools or None,
        tool_choice=_tool_choice(request), parallel_tool_calls=request.parallel_tool_calls,
        response_format=_response_format(request), logprobs=logprobs,
        top_logprobs=request.top_logprobs if logprobs else None, stream=request.stream,
        stream_options=StreamOptions(include_usage=True) if request.stream else None,
        user=request.user, safety_identifier=request.safety_identifier, prompt_cache_key=request.prompt_cache_key,
    )  # fmt: skip
    text = request.text.model_dump(by_alias=True, exclude_none=True) if request.text is not None else None
    shell = ResponseObject(
        id=_ident("resp"), created_at=int(time.time()), status="in_progress", instructions=request.instructions,
        max_output_tokens=request.max_output_tokens, model=request.model,
        parallel_tool_calls=request.parallel_tool_calls, previous_response_id=request.previous_response_id,
        store=request.store, temperature=request.temperature, top_p=request.top_p,
        text=text or {"format": {"type": "text"}},
        tool_choice=(request.tool_choice.model_dump() if request.tool_choice is not None and
                     not isinstance(request.tool_choice, str) else request.tool_choice or "auto"),
        tools=[t.model_dump(exclude_none=True) for t in request.tools or ()], user=request.user,
        metadata=request.metadata or {},
    )  # fmt: skip
    return _Turn(chat, history, shell, origin)


def _renamed(exc: InvalidInput, turn: _Turn) -> InvalidInput:
    """The chat service's error naming the field as the Responses API calls it."""
    param = exc.param or ""
    found = _MESSAGE_PARAM.match(param)
    if found:
        index = int(found.group(1))
        item = turn.origin[index] if index < len(turn.origin) else None
        param = "input" if item is None else f"input[{item}]{found.group(2)}"
    else:
        param = _RENAMED.get(param, param)
    exc.param = param or None
    return exc


def _usage(usage: wire.Usage | None) -> ResponseUsage | None:
    if usage is None:
        return None
    return ResponseUsage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens,
                         total_tokens=usage.total_tokens)  # fmt: skip


def _finished(shell: ResponseObject, output: list[OutputItem], answer: ChatCompletion | ChatCompletionChunk,
              reason: str | None, usage: ResponseUsage | None) -> ResponseObject:  # fmt: skip
    """The response once answered: the model that answered (and the one that saw its images), its output, why it
    ended and what it used."""
    incomplete = reason == "length"
    return shell.model_copy(update={
        "status": "incomplete" if incomplete else "completed", "output": output, "usage": usage,
        "incomplete_details": IncompleteDetails(reason="max_output_tokens") if incomplete else None,
        "completed_at": int(time.time()), "model": answer.model, "vision_model": answer.vision_model,
    })  # fmt: skip


def _answered(output: list[OutputItem]) -> ChatMessage:
    """The response's output as the assistant's turn of the stored conversation."""
    text = "".join(part.text for item in output if isinstance(item, OutputMessage) for part in item.content)
    calls = [ToolCall(id=item.call_id, function=wire.FunctionCall(name=item.name, arguments=item.arguments))
             for item in output if isinstance(item, OutputFunctionCall)]  # fmt: skip
    return ChatMessage(role="assistant", content=text if text or not calls else None, tool_calls=calls or None)


class ResponsesService:
    """`POST /v1/responses`, `GET` and `DELETE /v1/responses/{id}`."""

    def __init__(self, chat: ChatService, store: ResponseStore, settings: Settings) -> None:
        self._chat = chat
        self._store = store
        self._settings = settings

    async def _turn(self, request: ResponseRequest, owner: str) -> _Turn:
        previous: list[ChatMessage] = []
        if request.previous_response_id is not None:
            document = await self._store.get(owner, request.previous_response_id)
            if document is None:
                raise NotFound(f"No stored response '{request.previous_response_id[:64]}': it was never stored, has "
                               "expired or was deleted, or belongs to another key.",
                               param="previous_response_id")  # fmt: skip
            previous = [ChatMessage.model_validate(m) for m in document["conversation"]]
        return to_chat(request, previous)

    async def _keep(self, turn: _Turn, response: ResponseObject, owner: str) -> None:
        if not turn.shell.store:
            return
        conversation = [m.model_dump(mode="json", exclude_none=True) for m in (*turn.history, _answered(
            response.output))]  # fmt: skip
        document = {"response": response.model_dump(mode="json"), "conversation": conversation}
        await self._store.put(owner, response.id, document, self._settings.models.chat.responses.ttl_s)

    async def create(self, request: ResponseRequest, owner: str, meter: Meter) -> ResponseObject:
        """A whole response, kept when `store` is true."""
        turn = await self._turn(request, owner)
        try:
            completion = await self._chat.complete_chat(turn.chat, meter)
        except InvalidInput as exc:
            raise _renamed(exc, turn) from None
        output = _output(completion, bool(request.include))
        response = _finished(turn.shell, output, completion, completion.choices[0].finish_reason,
                             _usage(completion.usage))  # fmt: skip
        await self._keep(turn, response, owner)
        return response

    async def stream(self, request: ResponseRequest, owner: str, meter: Meter) -> AsyncGenerator[NamedEvent, None]:
        """The response as `response.*` events; a failure after the first event ends it with `error` and
        `response.failed`."""
        turn = await self._turn(request, owner)
        try:
            chunks = await self._chat.stream_chat(turn.chat, meter)
        except InvalidInput as exc:
            raise _renamed(exc, turn) from None
        return _Stream(turn, bool(request.include)).events(chunks, lambda r: self._keep(turn, r, owner))

    async def get(self, owner: str, response_id: str) -> ResponseObject:
        """A stored response."""
        document = await self._store.get(owner, response_id) if len(response_id) <= 64 else None
        if document is None:
            raise NotFound(f"No stored response '{response_id[:64]}' for this key.")
        return ResponseObject.model_validate(document["response"])

    async def delete(self, owner: str, response_id: str) -> DeletedResponse:
        """Forget a stored response."""
        if len(response_id) > 64 or not await self._store.delete(owner, response_id):
            raise NotFound(f"No stored response '{response_id[:64]}' for this key.")
        return DeletedResponse(id=response_id)


def _output(completion: ChatCompletion, logprobs: bool) -> list[OutputItem]:
    choice = completion.choices[0]
    message = choice.message
    output: list[OutputItem] = []
    if message.content is not None or not message.tool_calls:
        tokens = choice.logprobs.content if logprobs and choice.logprobs is not None else None
        part = OutputTextPart(text=message.content or "", logprobs=tokens if logprobs else None)
        output.append(OutputMessage(id=_ident("msg"), status="completed", content=[part]))
    for call in message.tool_calls or ():
        output.append(OutputFunctionCall(id=_ident("fc"), call_id=call.id, name=call.function.name,
                                         arguments=call.function.arguments))  # fmt: skip
    return output


class _Stream:
    """Chat chunks in, the Responses API's events out, numbered in order."""

    def __init__(self, turn: _Turn, logprobs: bool) -> None:
        self._turn = turn
        self._logprobs = logprobs
        self._numbers = itertools.count()
        self._output: list[OutputItem] = []
        self._message: OutputMessage | None = None
        self._text: list[str] = []
        self._tokens: list[wire.TokenLogprob] = []

    def _event(self, kind: str, **data: Any) -> NamedEvent:
        return kind, {"type": kind, "sequence_number": next(self._numbers), **data}

    def _dump(self, model: Any) -> dict[str, Any]:
        dumped: dict[str, Any] = model.model_dump(mode="json")
        return dumped

    def _open_message(self) -> list[NamedEvent]:
        self._message = OutputMessage(id=_ident("msg"), status="in_progress", content=[])
        self._output.append(self._message)
        where = {"item_id": self._message.id, "output_index": len(self._output) - 1, "content_index": 0}
        part = OutputTextPart(text="", logprobs=[] if self._logprobs else None)
        return [self._event("response.output_item.added", output_index=where["output_index"],
                            item=self._dump(self._message)),
                self._event("response.content_part.added", **where, part=self._dump(part))]  # fmt: skip

    def _close_message(self) -> list[NamedEvent]:
        message = self._message
        if message is None:
            return []
        self._message = None
        text = "".join(self._text)
        part = OutputTextPart(text=text, logprobs=list(self._tokens) if self._logprobs else None)
        message.content, message.status = [part], "completed"
        where = {"item_id": message.id, "output_index": self._output.index(message), "content_index": 0}
        return [self._event("response.output_text.done", **where, text=text, logprobs=self._dump_tokens()),
                self._event("response.content_part.done", **where, part=self._dump(part)),
                self._event("response.output_item.done", output_index=where["output_index"],
                            item=self._dump(message))]  # fmt: skip

    def _dump_tokens(self, tokens: list[wire.TokenLogprob] | None = None) -> list[dict[str, Any]]:
        chosen = self._tokens if tokens is None else tokens
        return [t.model_dump(mode="json") for t in chosen] if self._logprobs else []

    def _text_delta(self, text: str, tokens: list[wire.TokenLogprob]) -> list[NamedEvent]:
        events = self._open_message() if self._message is None else []
        self._text.append(text)
        self._tokens.extend(tokens)
        assert self._message is not None
        where = {"item_id": self._message.id, "output_index": self._output.index(self._message), "content_index": 0}
        return [*events, self._event("response.output_text.delta", **where, delta=text,
                                     logprobs=self._dump_tokens(tokens))]  # fmt: skip

    def _call(self, call: wire.ChunkToolCall) -> list[NamedEvent]:
        events = self._close_message()
        name, arguments = call.function.name or "", call.function.arguments
        item = OutputFunctionCall(id=_ident("fc"), call_id=call.id or _ident("call"), name=name, arguments="",
                                  status="in_progress")  # fmt: skip
        self._output.append(item)
        index = len(self._output) - 1
        events.append(self._event("response.output_item.added", output_index=index, item=self._dump(item)))
        events.append(self._event("response.function_call_arguments.delta", item_id=item.id, output_index=index,
                                  delta=arguments))  # fmt: skip
        item.arguments, item.status = arguments, "completed"
        events.append(self._event("response.function_call_arguments.done", item_id=item.id, output_index=index,
                                  name=name, arguments=arguments))  # fmt: skip
        events.append(self._event("response.output_item.done", output_index=index, item=self._dump(item)))
        return events

    def _choice(self, choice: wire.ChunkChoice) -> list[NamedEvent]:
        tokens = (choice.logprobs.content or []) if choice.logprobs is not None else []
        events = self._text_delta(choice.delta.content, tokens) if choice.delta.content else []
        for call in choice.delta.tool_calls or ():
            events.extend(self._call(call))
        return events

    async def events(
        self, chunks: AsyncGenerator[ChatCompletionChunk, None], keep: Any
    ) -> AsyncGenerator[NamedEvent, None]:
        """The whole stream: created, in progress, the output items as they come, then completed (or
        incomplete); `keep` stores the finished response first, when it is to be stored."""
        shell = self._turn.shell
        reason: str | None = None
        usage: ResponseUsage | None = None
        first: ChatCompletionChunk | None = None
        try:
            yield self._event("response.created", response=self._dump(shell))
            yield self._event("response.in_progress", response=self._dump(shell))
            async for chunk in chunks:
                first = first or chunk  # names the models
                usage = _usage(chunk.usage) or usage
                for choice in chunk.choices:
                    for event in self._choice(choice):
                        yield event
                    reason = choice.finish_reason or reason
            if not self._output:  # an empty answer is still a message
                for event in self._open_message():
                    yield event
            for event in self._close_message():
                yield event
            assert first is not None  # a chat stream always opens with a chunk
            response = _finished(shell, self._output, first, reason, usage)
            await keep(response)
            name = "response.incomplete" if response.status == "incomplete" else "response.completed"
            yield self._event(name, response=self._dump(response))
        except AiserveError as exc:
            yield self._event("error", code=exc.code, message=exc.message, param=exc.param)
            failed = shell.model_copy(update={"status": "failed", "output": self._output,
                                              "error": ResponseError(code=exc.code, message=exc.message)})  # fmt: skip
            yield self._event("response.failed", response=self._dump(failed))
        finally:
            await chunks.aclose()
