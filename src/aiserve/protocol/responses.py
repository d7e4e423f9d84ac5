"""`/v1/responses`, OpenAI's Responses API: the request (input items, tools, text format) and the response object
with its output items. Every request field is honoured or, where it cannot be, refused with 400 naming it."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from aiserve.protocol.chat import _NAME, JsonSchemaFormat, TokenLogprob, _Strict, _unset

_ITEM_ID = Field(default=None, max_length=256)


class InputText(_Strict):
    """Text in an input message."""

    type: Literal["input_text"]
    text: str


class InputImage(_Strict):
    """An image in a user's message: a data URL, or an `http(s)://` URL when the server fetches them."""

    type: Literal["input_image"]
    image_url: str | None = Field(default=None, min_length=1)
    """The image."""
    detail: Literal["auto", "low", "high", "original"] | None = None
    """Accepted: the vision model sees every image at its own input size, whatever the detail."""
    file_id: str | None = Field(default=None, max_length=256)
    """Refused: files are not stored here; send `image_url`."""

    @model_validator(mode="after")
    def _has_url(self) -> Self:
        if self.file_id is not None or self.image_url is None:
            raise ValueError("files are not stored here: send the image as image_url (a data URL)")
        return self


class OutputText(_Strict):
    """Text of an earlier answer, handed back in `input`."""

    type: Literal["output_text"]
    text: str
    annotations: list[Any] = Field(default_factory=list, max_length=0)
    """Accepted when empty."""
    logprobs: list[Any] | None = None
    """Accepted, and not read."""


Content = Annotated[InputText | InputImage | OutputText, Field(discriminator="type")]


class MessageItem(_Strict):
    """A message: `system`, `developer`, `user` or `assistant`."""

    type: Literal["message"] = "message"
    role: Literal["system", "developer", "user", "assistant"]
    content: str | Annotated[list[Content], Field(max_length=4096)]
    id: str | None = _ITEM_ID
    """Accepted (an output item handed back keeps its id)."""
    status: Literal["in_progress", "completed", "incomplete"] | None = None
    """Accepted (an output item handed back keeps its status)."""
    phase: None = None
    """Accepted as null."""

    @model_validator(mode="after")
    def _images_from_users(self) -> Self:
        if self.role != "user" and any(isinstance(part, InputImage) for part in self.content):
            raise ValueError("only a user's message carries images")
        return self


class FunctionCallItem(_Strict):
    """A call the model made in an earlier answer."""

    type: Literal["function_call"]
    call_id: str = Field(min_length=1, max_length=256)
    name: str = Field(pattern=_NAME)
    arguments: str = Field(max_length=1_000_000)
    id: str | None = _ITEM_ID
    status: Literal["in_progress", "completed", "incomplete"] | None = None


class FunctionCallOutputItem(_Strict):
    """The result of a call, for the model to read."""

    type: Literal["function_call_output"]
    call_id: str = Field(min_length=1, max_length=256)
    output: str | list[InputText]
    id: str | None = _ITEM_ID
    status: Literal["in_progress", "completed", "incomplete"] | None = None

    def text(self) -> str:
        """The output as one string."""
        return self.output if isinstance(self.output, str) else "".join(part.text for part in self.output)


def _kind(item: Any) -> str:
    """An input item's type; a message may leave it out."""
    if isinstance(item, dict):
        return str(item.get("type", "message"))
    return str(getattr(item, "type", "message"))


Item = Annotated[
    Annotated[MessageItem, Tag("message")]
    | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[FunctionCallOutputItem, Tag("function_call_output")],
    Discriminator(_kind),
]
"""An input item: a message, an earlier function call, or a call's output."""


class FunctionTool(_Strict):
    """A function the model may call."""

    type: Literal["function"]
    name: str = Field(pattern=_NAME)
    description: str | None = Field(default=None, max_length=10_000)
    parameters: dict[str, Any] | None = None
    """A JSON Schema of its arguments; the model's arguments always follow it."""
    strict: bool | None = None
    """Arguments are always held to `parameters`, strict or not."""


class FunctionChoice(_Strict):
    """Call this function."""

    type: Literal["function"]
    name: str = Field(pattern=_NAME)


class TextFormatText(_Strict):
    """Free text (the default)."""

    type: Literal["text"]


class TextFormatJsonObject(_Strict):
    """Any JSON object."""

    type: Literal["json_object"]


class TextFormatJsonSchema(JsonSchemaFormat):
    """JSON that follows `schema`."""

    type: Literal["json_schema"]


TextFormat = Annotated[TextFormatText | TextFormatJsonObject | TextFormatJsonSchema, Field(discriminator="type")]


class TextConfig(_Strict):
    """The answer's format."""

    format: TextFormat | None = None
    verbosity: None = None
    """Accepted as null: these models take no verbosity setting."""


class ResponseStreamOptions(_Strict):
    """Streaming options."""

    include_obfuscation: Literal[False] = False
    """Events are never padded: only false is accepted."""


Includable = Literal["message.output_text.logprobs"]


class ResponseRequest(_Strict):
    """`POST /v1/responses`."""

    model: str = Field(min_length=1, max_length=256)
    """Model id, `id@version` or alias."""
    input: str | Annotated[list[Item], Field(min_length=1, max_length=4096)]
    """Text, or a list of items: messages (text and images), earlier function calls and their outputs."""
    instructions: str | None = None
    """A system message put first (not carried to the responses that follow this one)."""
    max_output_tokens: int | None = Field(default=None, ge=1)
    """Most tokens in the answer."""
    temperature: float = Field(default=1.0, ge=0, le=2)
    top_p: float = Field(default=1.0, gt=0, le=1)
    tools: list[FunctionTool] | None = Field(default=None, max_length=128)
    """Functions the model may call (only functions)."""
    tool_choice: Literal["none", "auto", "required"] | FunctionChoice | None = None
    parallel_tool_calls: bool = True
    text: TextConfig | None = None
    """`format`: `text`, `json_object` or `json_schema`, held by a grammar."""
    stream: bool = False
    """Answer as server-sent events."""
    stream_options: ResponseStreamOptions | None = None
    store: bool = True
    """Keep the response (per API key, for `models.chat.responses.ttl_s`) for `previous_response_id` and `GET`."""
    previous_response_id: str | None = Field(default=None, max_length=256)
    """Continue from a stored response: its conversation comes before `input`."""
    metadata: dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=512)]] | None = Field(
        default=None, max_length=16
    )
    """Up to 16 pairs, kept with the response."""
    include: list[Includable] | None = Field(default=None, max_length=1)
    """`message.output_text.logprobs`: each output token's log-probability."""
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    """Likeliest alternatives for each token (with `include`)."""
    truncation: Literal["disabled"] | None = None
    """A conversation over the context window is refused (400), never cut: only `disabled`."""
    user: str | None = Field(default=None, max_length=256)
    """An end-user id: written to the access log."""
    safety_identifier: str | None = Field(default=None, max_length=256)
    """An end-user id: written to the access log."""
    service_tier: Literal["auto", "default"] | None = None
    """One tier: `auto` and `default` are accepted."""
    prompt_cache_key: str | None = Field(default=None, max_length=256)
    """Accepted: every prompt already reuses the longest cached start of an earlier one."""
    prompt_cache_retention: Literal["in_memory"] | None = None
    """Cached prompts live in memory only."""
    background: Literal[False] | None = None
    """Responses are answered while the request waits: only false is accepted."""
    max_tool_calls: Any = None
    """Refused: use `parallel_tool_calls: false` for one call."""
    reasoning: Any = None
    """Refused: no model here is a reasoning model."""
    conversation: Any = None
    """Refused: use `previous_response_id`."""
    prompt: Any = None
    """Refused: no prompt templates are stored here."""
    context_management: Any = None
    """Refused."""
    moderation: Any = None
    """Refused: this server does not moderate answers."""
    image: Any = None
    """Refused: answers are text only."""
    access_programs: Any = None
    """Refused."""
    background_options: Any = None
    """Refused: responses are never run in the background."""
    prompt_cache_options: Any = None
    """Refused: the prompt cache takes no options."""

    @model_validator(mode="after")
    def _fits(self) -> Self:
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options is only for streamed responses (stream: true)")
        return self


REFUSED = {
    "max_tool_calls": "bounding the number of calls is not supported; 'parallel_tool_calls': false makes one",
    "reasoning": "no model here is a reasoning model",
    "conversation": "conversations are not stored here; use 'previous_response_id'",
    "prompt": "no prompt templates are stored here",
    "context_management": "the context is never compacted here",
    "moderation": "this server does not moderate answers",
    "image": "answers are text only",
    "access_programs": "not supported",
    "background_options": "responses are never run in the background",
    "prompt_cache_options": "the prompt cache takes no options",
}
"""Responses parameters this server cannot honour, refused with 400 when given, and why."""


class OutputTextPart(BaseModel):
    """The answer's text."""

    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[Any] = Field(default_factory=list)
    logprobs: list[TokenLogprob] | None = Field(default=None, exclude_if=_unset)
    """With `include: ["message.output_text.logprobs"]`."""


class OutputMessage(BaseModel):
    """An answer in text."""

    type: Literal["message"] = "message"
    id: str
    status: Literal["in_progress", "completed", "incomplete"]
    role: Literal["assistant"] = "assistant"
    content: list[OutputTextPart]


class OutputFunctionCall(BaseModel):
    """A call the model made."""

    type: Literal["function_call"] = "function_call"
    id: str
    call_id: str
    name: str
    arguments: str
    status: Literal["in_progress", "completed", "incomplete"] = "completed"


OutputItem = Annotated[OutputMessage | OutputFunctionCall, Field(discriminator="type")]


class InputTokensDetails(BaseModel):
    """Prompt tokens read from the cache (not counted apart here)."""

    cached_tokens: int = 0


class OutputTokensDetails(BaseModel):
    """Reasoning tokens (none: no model here reasons apart)."""

    reasoning_tokens: int = 0


class ResponseUsage(BaseModel):
    """Tokens used, counted by the model's tokenizer."""

    input_tokens: int
    input_tokens_details: InputTokensDetails = Field(default_factory=InputTokensDetails)
    output_tokens: int
    output_tokens_details: OutputTokensDetails = Field(default_factory=OutputTokensDetails)
    total_tokens: int


class IncompleteDetails(BaseModel):
    """Why a response is incomplete."""

    reason: Literal["max_output_tokens"]


class ResponseError(BaseModel):
    """Why a streamed response failed."""

    code: str
    message: str


class ResponseObject(BaseModel):
    """A response: `POST /v1/responses` (whole, or in the stream's `response.*` events) and `GET
    /v1/responses/{id}`."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    object: Literal["response"] = "response"
    created_at: int
    completed_at: int | None = None
    status: Literal["in_progress", "completed", "incomplete", "failed"]
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    model: str
    output: list[OutputItem] = Field(default_factory=list)
    parallel_tool_calls: bool = True
    previous_response_id: str | None = None
    store: bool = True
    temperature: float = 1.0
    top_p: float = 1.0
    text: dict[str, Any] = Field(default_factory=lambda: {"format": {"type": "text"}})
    tool_choice: Any = "auto"
    tools: list[dict[str, Any]] = Field(default_factory=list)
    truncation: Literal["disabled"] = "disabled"
    usage: ResponseUsage | None = None
    user: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    vision_model: str | None = Field(default=None, exclude_if=_unset)
    """An extension: the vision model that saw the request's images for a chat model without vision (also in the
    `x-vision-model` header)."""


class DeletedResponse(BaseModel):
    """`DELETE /v1/responses/{id}`."""

    id: str
    object: Literal["response.deleted"] = "response.deleted"
    deleted: bool = True
