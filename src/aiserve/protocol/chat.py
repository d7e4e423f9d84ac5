"""`/v1/chat/completions` and `/v1/completions`, OpenAI-compatible, plus the simple `/v1/chat` (a message in, a reply
out)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

_NAME = r"^[A-Za-z0-9_-]{1,64}$"
"""A function's or a schema's name, as OpenAI allows them."""


def _unset(value: object) -> bool:
    return value is None


class _Strict(BaseModel):
    """A part of a request: a field this server does not know is refused, never ignored."""

    model_config = ConfigDict(extra="forbid")


class TextPart(_Strict):
    """A text part of a message's content."""

    type: Literal["text"] = "text"
    text: str
    """The text."""


class ImageUrl(_Strict):
    """Where an image is: a `data:image/...;base64,` URL, or an `http(s)://` URL when the server fetches them."""

    url: str = Field(min_length=1)
    """The image (its size is bounded by the body limit and `models.chat.images.max_bytes`)."""
    detail: Literal["auto", "low", "high"] | None = None
    """Accepted: the vision model sees every image at its own input size, whatever the detail."""


class ImagePart(_Strict):
    """An image part of a user's message."""

    type: Literal["image_url"]
    image_url: ImageUrl


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]
"""A part of a message: text, or (in a user's message) an image."""


class FunctionCall(_Strict):
    """A call the model made: the function's name and its arguments as JSON text."""

    name: str = Field(pattern=_NAME)
    arguments: str = Field(max_length=1_000_000)


class ToolCall(_Strict):
    """One tool call of an assistant's turn."""

    id: str = Field(min_length=1, max_length=256)
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(_Strict):
    """One turn of the conversation. An assistant's turn may carry `tool_calls` (its content may then be null); a
    `tool` turn gives a call's result and names it with `tool_call_id`."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    """Who speaks; `developer` is treated as `system`."""
    content: str | list[ContentPart] | None = None
    """The text, or a list of parts: text, and images in a user's message."""
    name: str | None = Field(default=None, max_length=256)
    """The speaker's name, passed to the chat template (which may show it)."""
    tool_calls: list[ToolCall] | None = Field(default=None, max_length=128)
    """An assistant turn's calls."""
    tool_call_id: str | None = Field(default=None, max_length=256)
    """A tool turn's call."""
    refusal: None = None
    """Accepted as null (a message handed back as the SDK returned it)."""
    annotations: list[Any] | None = Field(default=None, max_length=0)
    """Accepted when null or empty."""
    audio: None = None
    """Accepted as null."""
    function_call: None = None
    """Accepted as null; calls are `tool_calls`."""

    @model_validator(mode="after")
    def _fits_role(self) -> Self:
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only an assistant's turn carries tool_calls")
        if (self.tool_call_id is None) != (self.role != "tool"):
            raise ValueError("a tool turn, and only a tool turn, names its call with tool_call_id")
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError("content may be null only in an assistant's turn with tool_calls")
        if self.role != "user" and self.images():
            raise ValueError("only a user's turn carries images")
        return self

    def text(self, seen: Iterator[str] | None = None) -> str:
        """The content as one string; each image part becomes the next of `seen` (what was seen in it), or nothing."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text if isinstance(p, TextPart) else next(seen or iter(()), "") for p in self.content)

    def images(self) -> list[ImagePart]:
        """The image parts, in order."""
        if self.content is None or isinstance(self.content, str):
            return []
        return [p for p in self.content if isinstance(p, ImagePart)]


class StreamOptions(_Strict):
    """Streaming options."""

    include_usage: bool = False
    """Send a last chunk with `usage` before `[DONE]`."""
    include_obfuscation: Literal[False] = False
    """Chunks are never padded: only false is accepted."""


class SamplingFields(_Strict):
    """Sampling parameters shared by chat and text completions. Every field is honoured or, where a value cannot
    be, refused with 400 naming it."""

    model: str = Field(min_length=1, max_length=256)
    """Model id, `id@version` or alias."""
    max_tokens: int | None = Field(default=None, ge=1)
    """Most tokens to generate (default 256)."""
    temperature: float = Field(default=1.0, ge=0, le=2)
    """0 is greedy and deterministic."""
    top_p: float = Field(default=1.0, gt=0, le=1)
    """Nucleus sampling mass."""
    top_k: int = Field(default=0, ge=-1)
    """Keep only the k likeliest tokens (0 or -1: all). An extension, as in vLLM and llama.cpp."""
    min_p: float = Field(default=0.0, ge=0, le=1)
    """Drop tokens less likely than `min_p` times the likeliest. An extension."""
    presence_penalty: float = Field(default=0.0, ge=-2, le=2)
    """Subtracted once from the logit of each token the answer already holds."""
    frequency_penalty: float = Field(default=0.0, ge=-2, le=2)
    """Subtracted from a token's logit for each time the answer holds it."""
    repetition_penalty: float = Field(default=1.0, gt=0, le=10)
    """Divides the positive logits (multiplies the negative) of tokens in the prompt or answer. An extension."""
    logit_bias: dict[str, float] | None = Field(default=None, max_length=1024)
    """Token id (as a string) to a bias from -100 to 100, added to its logit."""
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    """Makes sampling repeatable."""
    stop: str | list[str] | None = None
    """Up to 4 strings that end the answer (not included in it)."""
    n: int = Field(default=1, ge=1)
    """Only 1 is supported."""
    stream: bool = False
    """Answer as server-sent events."""
    stream_options: StreamOptions | None = None
    """Streaming options."""
    user: str | None = Field(default=None, max_length=256)
    """An end-user id: written to the access log."""

    def wants_usage(self) -> bool:
        """Whether a streamed answer should end with a usage chunk."""
        return bool(self.stream_options and self.stream_options.include_usage)

    def stops(self) -> list[str]:
        """`stop` as a list."""
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class JsonSchemaFormat(_Strict):
    """A JSON Schema the answer must follow."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    name: str = Field(pattern=_NAME)
    """The schema's name."""
    description: str | None = Field(default=None, max_length=10_000)
    """What the answer is for; shown to nobody but kept for compatibility (the schema itself is enforced)."""
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    """The JSON Schema (the subset in docs/api.md); the answer always validates against it."""
    strict: bool | None = None
    """The answer is always held to the schema, strict or not."""


class TextFormat(_Strict):
    """Free text (the default)."""

    type: Literal["text"]


class JsonObjectFormat(_Strict):
    """Any JSON object."""

    type: Literal["json_object"]


class JsonSchemaResponseFormat(_Strict):
    """JSON that follows `json_schema.schema`."""

    type: Literal["json_schema"]
    json_schema: JsonSchemaFormat


ResponseFormat = Annotated[TextFormat | JsonObjectFormat | JsonSchemaResponseFormat, Field(discriminator="type")]


class FunctionDefinition(_Strict):
    """A function the model may call."""

    name: str = Field(pattern=_NAME)
    """Its name."""
    description: str | None = Field(default=None, max_length=10_000)
    """What it does, shown to the model."""
    parameters: dict[str, Any] | None = None
    """A JSON Schema of its arguments (the subset in docs/api.md); the model's arguments always follow it."""
    strict: bool | None = None
    """Arguments are always held to `parameters`, strict or not."""


class ToolDefinition(_Strict):
    """A tool: only functions."""

    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(_Strict):
    """The function to call."""

    name: str = Field(pattern=_NAME)


class NamedToolChoice(_Strict):
    """Call this function."""

    type: Literal["function"]
    function: NamedFunction


class ChatCompletionRequest(SamplingFields):
    """A chat completion."""

    messages: list[ChatMessage] = Field(min_length=1, max_length=4096)
    """The conversation so far (the server may hold it to fewer: `models.chat.max_messages`)."""
    max_completion_tokens: int | None = Field(default=None, ge=1)
    """Newer name of `max_tokens`; wins when both are given."""
    response_format: ResponseFormat | None = None
    """`json_object` or `json_schema`: the answer is decoded under a grammar, so it always parses (and follows the
    schema) unless it runs out of tokens (`finish_reason: length`)."""
    tools: list[ToolDefinition] | None = Field(default=None, max_length=128)
    """Functions the model may call."""
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    """`auto` (the default with tools): the model answers or calls; `required`: it calls; a named function: it
    calls that one; `none`: it answers in text."""
    parallel_tool_calls: bool = True
    """Whether one answer may hold several calls."""
    logprobs: bool = False
    """Return each answer token's log-probability."""
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    """And this many likeliest alternatives for each (needs `logprobs`)."""
    modalities: list[Literal["text"]] | None = None
    """Only text answers."""
    store: Literal[False] | None = None
    """Completions are never stored: only false is accepted."""
    metadata: dict[str, str] | None = Field(default=None, max_length=0)
    """Kept only with stored completions, which this server does not store: only an empty object is accepted."""
    service_tier: Literal["auto", "default"] | None = None
    """One tier: `auto` and `default` are accepted."""
    prompt_cache_key: str | None = Field(default=None, max_length=256)
    """Accepted: every prompt already reuses the longest cached start of an earlier one, keyed by its content."""
    prompt_cache_retention: Literal["in_memory"] | None = None
    """Cached prompts live in memory only: only `in_memory` is accepted."""
    safety_identifier: str | None = Field(default=None, max_length=256)
    """An end-user id: written to the access log."""
    moderation: Any = None
    """Refused: this server does not moderate answers."""
    prompt_cache_options: Any = None
    """Refused: the prompt cache takes no options."""
    audio: Any = None
    """Refused: answers are text only."""
    prediction: Any = None
    """Refused: predicted outputs are not supported."""
    web_search_options: Any = None
    """Refused: this server does not search the web."""
    reasoning_effort: Any = None
    """Refused: no model here is a reasoning model."""
    verbosity: Any = None
    """Refused: not supported by these models."""
    functions: Any = None
    """Refused: use `tools`."""
    function_call: Any = None
    """Refused: use `tool_choice`."""


class CompletionRequest(SamplingFields):
    """A text completion."""

    prompt: str | list[str]
    """The text to continue (a list of one string is accepted)."""
    logprobs: int | None = Field(default=None, ge=0, le=20)
    """Return each answer token's log-probability and this many likeliest alternatives."""
    echo: bool = False
    """Give the prompt back before the answer."""
    best_of: int | None = Field(default=None, ge=1, le=1)
    """Only 1 is supported."""
    suffix: None = None
    """Refused: text after the insertion point is not supported (only null is accepted)."""


class Usage(BaseModel):
    """Tokens used, counted by the model's tokenizer."""

    prompt_tokens: int
    """Tokens in the prompt, template included."""
    completion_tokens: int
    """Tokens generated."""
    total_tokens: int
    """The sum."""


class ChatRequest(_Strict):
    """`/v1/chat`: one message in, one reply out."""

    message: str = Field(min_length=1, max_length=32_000)
    """What the user says."""
    model: str | None = Field(default=None, max_length=256)
    """Chat model; the server's default one when left out."""
    max_tokens: int = Field(default=256, ge=1, le=4096)
    """Most tokens in the reply."""
    temperature: float = Field(default=0.7, ge=0, le=2)
    """0 gives the same reply every time."""


class ChatReply(BaseModel):
    """`/v1/chat`'s answer."""

    model: str
    """The model that answered."""
    reply: str
    """Its reply."""


class TopLogprob(BaseModel):
    """One of the likeliest tokens at a place in the answer."""

    token: str
    logprob: float
    bytes: list[int]


class TokenLogprob(BaseModel):
    """An answer token's log-probability under the model, with the likeliest alternatives."""

    token: str
    logprob: float
    bytes: list[int]
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(BaseModel):
    """Log-probabilities of a chat answer's tokens."""

    content: list[TokenLogprob] | None
    refusal: None = None


class AssistantMessage(BaseModel):
    """The model's answer in a chat completion: text, or tool calls (content then null)."""

    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: None = None
    tool_calls: list[ToolCall] | None = Field(default=None, exclude_if=_unset)
    """The calls, when the model called tools."""


class ChatChoice(BaseModel):
    """One answer of a chat completion."""

    index: int
    message: AssistantMessage
    finish_reason: str | None
    """`stop` (the answer ended or hit a stop string), `length` (it ran out of tokens) or `tool_calls`."""
    logprobs: ChoiceLogprobs | None = None
    """With `logprobs`: each answer token's log-probability."""
    stop_reason: str | None = Field(default=None, exclude_if=_unset)
    """An extension, as vLLM's: the stop string that ended the answer, when one did."""


class ChatCompletion(BaseModel):
    """`POST /v1/chat/completions` without streaming."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    vision_model: str | None = Field(default=None, exclude_if=_unset)
    """An extension: the vision model that saw the request's images for a chat model without vision (also in the
    `x-vision-model` header)."""


class ChunkFunction(BaseModel):
    """A streamed call's function: its name in the call's first chunk, then pieces of its arguments."""

    name: str | None = Field(default=None, exclude_if=_unset)
    arguments: str = ""


class ChunkToolCall(BaseModel):
    """A piece of a streamed tool call; `index` says which call (id and type come in its first piece)."""

    index: int
    id: str | None = Field(default=None, exclude_if=_unset)
    type: Literal["function"] | None = Field(default=None, exclude_if=_unset)
    function: ChunkFunction


class ChunkDelta(BaseModel):
    """What one streamed chunk adds to the answer (unset fields are left out, as OpenAI's streams do)."""

    role: Literal["assistant"] | None = Field(default=None, exclude_if=_unset)
    content: str | None = Field(default=None, exclude_if=_unset)
    tool_calls: list[ChunkToolCall] | None = Field(default=None, exclude_if=_unset)


class ChunkChoice(BaseModel):
    """One answer's piece in a streamed chunk."""

    index: int
    delta: ChunkDelta
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = Field(default=None, exclude_if=_unset)
    """With `logprobs`: the piece's tokens."""
    stop_reason: str | None = Field(default=None, exclude_if=_unset)
    """An extension, as vLLM's, with the finish reason: the stop string that ended the answer, when one did."""


class ChatCompletionChunk(BaseModel):
    """One server-sent event of a streamed chat completion; the last, when usage was asked for, has no choices."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = Field(default=None, exclude_if=_unset)
    """Only in the last chunk, when `stream_options.include_usage` asked for it."""
    vision_model: str | None = Field(default=None, exclude_if=_unset)
    """An extension, in the first chunk: the vision model that saw the request's images."""


class CompletionLogprobs(BaseModel):
    """Log-probabilities of a text completion's tokens, in the legacy shape."""

    tokens: list[str]
    token_logprobs: list[float]
    top_logprobs: list[dict[str, float]] | None
    text_offset: list[int]


class CompletionChoice(BaseModel):
    """One text completion (or, streamed, one piece of it)."""

    index: int
    text: str
    finish_reason: str | None = None
    logprobs: CompletionLogprobs | None = None
    """With `logprobs`: each answer token's log-probability."""


class Completion(BaseModel):
    """`POST /v1/completions`, or one streamed chunk of it (the last, when usage was asked for, has no choices)."""

    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = Field(default=None, exclude_if=_unset)
    """Always in a whole answer; streamed, only in the last chunk when `stream_options.include_usage` asked."""
