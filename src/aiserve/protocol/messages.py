"""`/v1/messages` and `/v1/messages/count_tokens`, Anthropic's Messages API: the request, the answer, and the events
of a streamed answer.

A field this server does not know is refused (400 naming it); a known field it cannot honour is declared here and
refused by the service with 400 naming it and saying why.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

_TOOL_NAME = r"^[A-Za-z0-9_-]{1,64}$"
"""A tool's name, as Anthropic allows them."""


def _unset(value: object) -> bool:
    return value is None


def _blocks(value: object) -> object:
    """A string stands for one text block (so an error names the block at fault, not the string's type)."""
    return [{"type": "text", "text": value}] if isinstance(value, str) else value


class _Strict(BaseModel):
    """A part of a request: a field this server does not know is refused, never ignored."""

    model_config = ConfigDict(extra="forbid")


class CacheControl(_Strict):
    """A prompt-cache breakpoint. Accepted on any block: every prompt already reuses the longest cached start of an
    earlier one, keyed by its content, so no breakpoint is needed (and none changes what is cached)."""

    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] | None = None
    """Accepted; cached prompts live in memory for as long as there is room."""


class TextBlockParam(_Strict):
    """Text in a turn, a system prompt or a tool result."""

    type: Literal["text"]
    text: str
    cache_control: CacheControl | None = None
    """Accepted (see `CacheControl`)."""
    citations: list[Any] | None = None
    """Accepted when null or empty (a block handed back as an answer gave it): this server cites nothing."""

    @field_validator("citations")
    @classmethod
    def _no_citations(cls, value: list[Any] | None) -> list[Any] | None:
        if value:
            raise ValueError("citations are not supported: this server cites no documents (only null or [])")
        return value


class Base64ImageSource(_Strict):
    """An image's bytes, base64-encoded."""

    type: Literal["base64"]
    media_type: Literal["image/jpeg", "image/png", "image/gif", "image/webp"]
    data: str = Field(min_length=1)


class UrlImageSource(_Strict):
    """An image at an `http(s)://` URL, fetched by the server when its operator allows it
    (`models.chat.images.fetch`)."""

    type: Literal["url"]
    url: str = Field(min_length=1)


class ImageBlockParam(_Strict):
    """An image in a user's turn or a tool result, seen by the server's vision model for a chat model without
    vision (the answer's `vision_model` names it)."""

    type: Literal["image"]
    source: Annotated[Base64ImageSource | UrlImageSource, Field(discriminator="type")]
    cache_control: CacheControl | None = None
    """Accepted (see `CacheControl`)."""


class ToolUseBlockParam(_Strict):
    """A tool call of an assistant's turn (as an answer gave it)."""

    type: Literal["tool_use"]
    id: str = Field(min_length=1, max_length=256)
    name: str = Field(pattern=_TOOL_NAME)
    input: dict[str, Any]
    cache_control: CacheControl | None = None
    """Accepted (see `CacheControl`)."""


ToolResultContent = Annotated[TextBlockParam | ImageBlockParam, Field(discriminator="type")]
ToolResultContents = Annotated[
    list[ToolResultContent], BeforeValidator(_blocks, json_schema_input_type=str | list[ToolResultContent])
]


class ToolResultBlockParam(_Strict):
    """The result of a tool call, in a user's turn."""

    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1, max_length=256)
    content: ToolResultContents = Field(default_factory=list)
    """Text, or text and image blocks."""
    is_error: bool = False
    """The call failed: the model is told so."""
    cache_control: CacheControl | None = None
    """Accepted (see `CacheControl`)."""


class RefusedBlockParam(BaseModel):
    """A block this server cannot take: refused with 400 naming it and saying why."""

    model_config = ConfigDict(extra="allow")

    type: Literal[
        "document",
        "search_result",
        "thinking",
        "redacted_thinking",
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "container_upload",
    ]


ContentBlockParam = Annotated[
    TextBlockParam | ImageBlockParam | ToolUseBlockParam | ToolResultBlockParam | RefusedBlockParam,
    Field(discriminator="type"),
]
"""A block of a turn."""
ContentBlocks = Annotated[
    list[ContentBlockParam], BeforeValidator(_blocks, json_schema_input_type=str | list[ContentBlockParam])
]
SystemBlocks = Annotated[
    list[TextBlockParam], BeforeValidator(_blocks, json_schema_input_type=str | list[TextBlockParam])
]


class MessageParam(_Strict):
    """One turn of the conversation: text, images and tool results from the user; text and tool calls from the
    assistant."""

    role: Literal["user", "assistant"]
    content: ContentBlocks
    """The text, or a list of blocks."""

    @model_validator(mode="after")
    def _fits_role(self) -> Self:
        kinds = {block.type for block in self.content}
        if self.role == "assistant" and kinds & {"image", "tool_result"}:
            raise ValueError("only a user's turn carries image and tool_result blocks")
        if self.role == "user" and "tool_use" in kinds:
            raise ValueError("only an assistant's turn carries tool_use blocks")
        return self


class ToolParam(_Strict):
    """A tool the model may call: a function with a JSON Schema of its input."""

    type: str | None = None
    """Only `custom` (or nothing): server tools (web search, code execution, ...) are not run here."""
    name: str = Field(pattern=_TOOL_NAME)
    description: str | None = Field(default=None, max_length=10_000)
    """What it does, shown to the model."""
    input_schema: dict[str, Any]
    """A JSON Schema of an object (the subset in docs/api.md); the model's input always follows it."""
    cache_control: CacheControl | None = None
    """Accepted (see `CacheControl`)."""
    strict: bool | None = None
    """The input is always held to `input_schema`, strict or not."""

    @field_validator("type")
    @classmethod
    def _custom(cls, value: str | None) -> str | None:
        if value not in (None, "custom"):
            raise ValueError(f"'{value}' is a server tool, which this server does not run; only custom tools "
                             "(name, description, input_schema) are supported")  # fmt: skip
        return value

    @field_validator("input_schema")
    @classmethod
    def _object(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("type") != "object":
            raise ValueError("input_schema must be the JSON Schema of an object ('type': 'object')")
        return value


class ToolChoiceParam(_Strict):
    """How the model uses the tools: `auto` (it answers or calls), `any` (it calls one), `tool` (it calls the one
    named), `none` (it answers in text)."""

    type: Literal["auto", "any", "tool", "none"]
    name: str | None = Field(default=None, pattern=_TOOL_NAME)
    """The tool, with `tool`."""
    disable_parallel_tool_use: bool = False
    """At most one call in the answer."""

    @model_validator(mode="after")
    def _named(self) -> Self:
        if (self.type == "tool") != (self.name is not None):
            raise ValueError("'name' is given with type 'tool', and only then")
        return self


class MetadataParam(_Strict):
    """About the request."""

    user_id: str | None = Field(default=None, max_length=256)
    """An end-user id: written to the access log."""


class ThinkingParam(_Strict):
    """Extended thinking: only `{"type": "disabled"}` is accepted (no model here thinks before answering)."""

    type: str
    budget_tokens: int | None = None
    display: str | None = None


class CountTokensRequest(_Strict):
    """`/v1/messages/count_tokens`: a conversation whose prompt tokens are counted, without generating."""

    model: str = Field(min_length=1, max_length=256)
    """Model id, `id@version` or alias."""
    messages: list[MessageParam] = Field(min_length=1, max_length=4096)
    """The conversation so far (the server may hold it to fewer: `models.chat.max_messages`)."""
    system: SystemBlocks | None = None
    """The system prompt."""
    tools: list[ToolParam] | None = Field(default=None, max_length=128)
    """Tools the model may call."""
    tool_choice: ToolChoiceParam | None = None
    """How the model uses the tools (`auto` when there are tools)."""
    thinking: ThinkingParam | None = None
    """Only `{"type": "disabled"}`."""
    cache_control: CacheControl | None = None
    """Accepted (see `CacheControl`)."""
    speed: Literal["standard"] | None = None
    """One speed: only `standard` is accepted."""
    mcp_servers: Any = None
    """Refused: this server connects to no MCP servers."""
    context_management: Any = None
    """Refused: the conversation is taken as it is sent."""
    output_config: Any = None
    """Refused: for a JSON answer, give a tool and `tool_choice` naming it."""


class MessagesRequest(CountTokensRequest):
    """`/v1/messages`: the next assistant turn of a conversation."""

    max_tokens: int = Field(ge=1)
    """Most tokens to generate."""
    stop_sequences: list[str] | None = None
    """Up to 4 non-empty strings that end the answer (`stop_reason: stop_sequence`)."""
    temperature: float = Field(default=1.0, ge=0, le=1)
    """0 is greedy and deterministic."""
    top_p: float | None = Field(default=None, gt=0, le=1)
    """Nucleus sampling mass."""
    top_k: int | None = Field(default=None, ge=0)
    """Keep only the k likeliest tokens (0: all)."""
    stream: bool = False
    """Answer as server-sent events."""
    metadata: MetadataParam | None = None
    """`user_id` is written to the access log."""
    service_tier: Literal["auto", "standard_only"] | None = None
    """One tier: both values are accepted."""
    container: Any = None
    """Refused: this server runs no code containers."""
    inference_geo: Any = None
    """Refused: answers are computed where this server runs."""
    diagnostics: Any = None
    """Refused: no prompt-cache diagnostics are reported."""


class TextBlock(BaseModel):
    """Text the model wrote."""

    type: Literal["text"] = "text"
    text: str
    citations: None = None


class ToolUseBlock(BaseModel):
    """A call the model made; `input` follows the tool's `input_schema`."""

    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    input: dict[str, Any]


ContentBlock = Annotated[TextBlock | ToolUseBlock, Field(discriminator="type")]

StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use"]


class MessageUsage(BaseModel):
    """Tokens used, counted by the model's tokenizer; cached prompt tokens are not counted apart (always 0)."""

    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


class Message(BaseModel):
    """`POST /v1/messages` without streaming: the assistant's turn."""

    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    model: str
    content: list[ContentBlock]
    """Text, or tool calls."""
    stop_reason: StopReason | None
    """Why the answer ended: `end_turn`, `max_tokens`, `stop_sequence` or `tool_use` (null while streaming)."""
    stop_sequence: str | None = None
    """The stop sequence that ended the answer, when one did."""
    usage: MessageUsage
    vision_model: str | None = Field(default=None, exclude_if=_unset)
    """An extension: the vision model that saw the request's images for a chat model without vision (also in the
    `x-vision-model` header)."""


class MessageTokensCount(BaseModel):
    """`POST /v1/messages/count_tokens`."""

    input_tokens: int
    """The prompt's tokens: chat template, system prompt, tools and the descriptions of images included."""


class MessagesErrorDetail(BaseModel):
    """What went wrong."""

    type: str
    """`invalid_request_error` (400), `authentication_error` (401), `permission_error` (403), `not_found_error`
    (404), `request_too_large` (413), `rate_limit_error` (429), `api_error` (500), `overloaded_error` (503) or
    `timeout_error` (504)."""
    message: str
    """A human-readable explanation, naming the field at fault when there is one."""


class MessagesError(BaseModel):
    """Anthropic's error body: every error answer of the Messages routes, and the `error` event of a stream that
    fails after its first byte."""

    type: Literal["error"] = "error"
    error: MessagesErrorDetail
