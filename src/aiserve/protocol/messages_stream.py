"""The events of a streamed `/v1/messages` answer, in Anthropic's order: `message_start`, then for each content
block `content_block_start`, its `content_block_delta`s and `content_block_stop` (a `ping` after the first block's
start), then `message_delta` (why it ended, the tokens generated) and `message_stop`. Each event is sent as
`event: <type>` with the model as its data; a failure after the first byte is an `error` event."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from aiserve.protocol.messages import ContentBlock, Message, StopReason


class MessageStartEvent(BaseModel):
    """The answer opens: a message with no content yet and the prompt's tokens in its usage."""

    type: Literal["message_start"] = "message_start"
    message: Message


class ContentBlockStartEvent(BaseModel):
    """A block opens: text (empty), or a tool call (its input `{}`, sent as JSON text in the deltas)."""

    type: Literal["content_block_start"] = "content_block_start"
    index: int
    content_block: ContentBlock


class PingEvent(BaseModel):
    """Keeps the connection alive."""

    type: Literal["ping"] = "ping"


class TextDelta(BaseModel):
    """More text of a text block."""

    type: Literal["text_delta"] = "text_delta"
    text: str


class InputJsonDelta(BaseModel):
    """More of a tool call's input, as JSON text (a whole call comes in one)."""

    type: Literal["input_json_delta"] = "input_json_delta"
    partial_json: str


class ContentBlockDeltaEvent(BaseModel):
    """A piece of a block."""

    type: Literal["content_block_delta"] = "content_block_delta"
    index: int
    delta: Annotated[TextDelta | InputJsonDelta, Field(discriminator="type")]


class ContentBlockStopEvent(BaseModel):
    """A block is complete."""

    type: Literal["content_block_stop"] = "content_block_stop"
    index: int


class MessageDelta(BaseModel):
    """How the answer ended."""

    stop_reason: StopReason
    stop_sequence: str | None = None


class MessageDeltaUsage(BaseModel):
    """The answer's tokens (and the prompt's again)."""

    input_tokens: int
    output_tokens: int


class MessageDeltaEvent(BaseModel):
    """The answer is complete: why it ended and the tokens it used."""

    type: Literal["message_delta"] = "message_delta"
    delta: MessageDelta
    usage: MessageDeltaUsage


class MessageStopEvent(BaseModel):
    """The last event."""

    type: Literal["message_stop"] = "message_stop"


MessageStreamEvent = (
    MessageStartEvent
    | ContentBlockStartEvent
    | PingEvent
    | ContentBlockDeltaEvent
    | ContentBlockStopEvent
    | MessageDeltaEvent
    | MessageStopEvent
)
"""Any event of a streamed answer; its `type` is the event's name."""
