"""Anthropic's Messages API as a translation layer over the chat service: the request becomes a chat completion
request (`services.messages_request`), the chat service serves it (vision bridge, tools, limits and all), and its
answer, whole or streamed, comes back in the Messages shapes."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator

from aiserve.protocol.chat import ChatCompletion, ChatCompletionChunk, ChunkToolCall, Usage
from aiserve.protocol.messages import (
    ContentBlock,
    CountTokensRequest,
    Message,
    MessagesRequest,
    MessageTokensCount,
    MessageUsage,
    StopReason,
    TextBlock,
    ToolUseBlock,
)
from aiserve.protocol.messages_stream import (
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    ContentBlockStopEvent,
    InputJsonDelta,
    MessageDelta,
    MessageDeltaEvent,
    MessageDeltaUsage,
    MessageStartEvent,
    MessageStopEvent,
    MessageStreamEvent,
    PingEvent,
    TextDelta,
)
from aiserve.services.chat import ChatService
from aiserve.services.messages_request import chat_request
from aiserve.services.meter import Meter

NamedEvent = tuple[str, MessageStreamEvent]
"""An event of a streamed answer, with its name (its type)."""


def stop_reason(finish_reason: str | None, stop_sequence: str | None) -> StopReason:
    """The chat finish reason as Messages names it: `length` is `max_tokens`, `tool_calls` is `tool_use`, `stop`
    is `stop_sequence` when a stop string ended the answer and `end_turn` otherwise."""
    if finish_reason == "length":
        return "max_tokens"
    if finish_reason == "tool_calls":
        return "tool_use"
    return "stop_sequence" if stop_sequence else "end_turn"


def _message_id(chat_id: str) -> str:
    return "msg_" + chat_id.removeprefix("chatcmpl-")


def _tool_use(call_id: str, name: str, arguments: str | None) -> ToolUseBlock:
    """A call; its arguments (JSON of an object, held to the tool's schema) parsed into its input."""
    parsed = json.loads(arguments) if arguments is not None else {}
    return ToolUseBlock(id="toolu_" + call_id.removeprefix("call_"), name=name,
                        input=parsed if isinstance(parsed, dict) else {})  # fmt: skip


def message_of(done: ChatCompletion) -> Message:
    """A whole chat completion as a Message: its text, or its tool calls as `tool_use` blocks."""
    choice = done.choices[0]
    calls = choice.message.tool_calls or []
    content: list[ContentBlock] = [_tool_use(c.id, c.function.name, c.function.arguments) for c in calls]
    if not content:
        content = [TextBlock(text=choice.message.content or "")]
    usage = MessageUsage(input_tokens=done.usage.prompt_tokens, output_tokens=done.usage.completion_tokens)
    reason = stop_reason(choice.finish_reason, choice.stop_reason)
    return Message(id=_message_id(done.id), model=done.model, content=content, stop_reason=reason,
                   stop_sequence=choice.stop_reason, usage=usage, vision_model=done.vision_model)  # fmt: skip


class _Blocks:
    """The content blocks of a streamed answer, opened and closed as the chat chunks come: a text block for the
    answer's text, one block per tool call; a `ping` after the first block opens."""

    def __init__(self) -> None:
        self.opened = 0
        self.writing = False
        """Whether the last block opened is text still open."""

    def _open(self, block: ContentBlock) -> list[MessageStreamEvent]:
        events: list[MessageStreamEvent] = [ContentBlockStartEvent(index=self.opened, content_block=block)]
        if not self.opened:
            events.append(PingEvent())
        self.opened += 1
        return events

    def _close_text(self) -> list[MessageStreamEvent]:
        if not self.writing:
            return []
        self.writing = False
        return [ContentBlockStopEvent(index=self.opened - 1)]

    def text(self, text: str) -> list[MessageStreamEvent]:
        events = [] if self.writing else self._open(TextBlock(text=""))
        self.writing = True
        return [*events, ContentBlockDeltaEvent(index=self.opened - 1, delta=TextDelta(text=text))]

    def call(self, call: ChunkToolCall) -> list[MessageStreamEvent]:
        block = _tool_use(call.id or "", call.function.name or "", None)
        events = [*self._close_text(), *self._open(block)]
        delta = InputJsonDelta(partial_json=call.function.arguments)
        index = self.opened - 1
        return [*events, ContentBlockDeltaEvent(index=index, delta=delta), ContentBlockStopEvent(index=index)]

    def end(self) -> list[MessageStreamEvent]:
        """The open block closed; an answer with none has one empty text block."""
        if not self.opened:
            return [*self._open(TextBlock(text="")), ContentBlockStopEvent(index=0)]
        return self._close_text()


async def _events(
    chunks: AsyncGenerator[ChatCompletionChunk, None], start: Message
) -> AsyncGenerator[NamedEvent, None]:
    """The chat chunks (after the opening one) as the events of a streamed Message."""
    blocks = _Blocks()
    ending = MessageDelta(stop_reason="end_turn")
    used = Usage(prompt_tokens=start.usage.input_tokens, completion_tokens=0, total_tokens=0)
    try:
        yield "message_start", MessageStartEvent(message=start)
        async for chunk in chunks:
            used = chunk.usage or used
            for choice in chunk.choices:
                events = blocks.text(choice.delta.content) if choice.delta.content else []
                for call in choice.delta.tool_calls or ():
                    events += blocks.call(call)
                if choice.finish_reason is not None:
                    ending = MessageDelta(stop_reason=stop_reason(choice.finish_reason, choice.stop_reason),
                                          stop_sequence=choice.stop_reason)  # fmt: skip
                for event in events:
                    yield event.type, event
        for event in blocks.end():
            yield event.type, event
        usage = MessageDeltaUsage(input_tokens=used.prompt_tokens, output_tokens=used.completion_tokens)
        yield "message_delta", MessageDeltaEvent(delta=ending, usage=usage)
        yield "message_stop", MessageStopEvent()
    finally:
        await chunks.aclose()  # a client that left stops the model within one token


class MessagesService:
    """`/v1/messages` and `/v1/messages/count_tokens`, served by the chat service."""

    def __init__(self, chat: ChatService) -> None:
        self._chat = chat

    async def create(self, request: MessagesRequest, meter: Meter) -> Message:
        """The assistant's whole turn: text, or tool calls."""
        chat, places = chat_request(request)
        with places.naming():
            done = await self._chat.complete_chat(chat, meter)
        return message_of(done)

    async def stream(self, request: MessagesRequest, meter: Meter) -> AsyncGenerator[NamedEvent, None]:
        """The assistant's turn as named events; raises before the first one when the request fails early."""
        chat, places = chat_request(request)
        with places.naming():
            chunks = await self._chat.stream_chat(chat, meter)
        opening = await anext(chunks)  # the assistant's role: no token is waited for
        usage = MessageUsage(input_tokens=meter.input_tokens, output_tokens=0)
        start = Message(id=_message_id(opening.id), model=opening.model, content=[], stop_reason=None, usage=usage,
                        vision_model=opening.vision_model)  # fmt: skip
        return _events(chunks, start)

    async def count_tokens(self, request: CountTokensRequest, meter: Meter) -> MessageTokensCount:
        """The prompt's tokens, without generating."""
        chat, places = chat_request(request)
        with places.naming():
            return MessageTokensCount(input_tokens=await self._chat.count(chat, meter))
