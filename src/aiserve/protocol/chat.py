"""`/v1/chat/completions` and `/v1/completions`, OpenAI-compatible, plus the simple `/v1/chat` (a message in, a reply
out)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class TextPart(BaseModel):
    """A text part of a message's content."""

    type: Literal["text"] = "text"
    """Only text parts are understood."""
    text: str
    """The text."""


class ChatMessage(BaseModel):
    """One turn of the conversation."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    """Who speaks; `developer` is treated as `system`."""
    content: str | list[TextPart]
    """The text, or a list of text parts."""

    def text(self) -> str:
        """The content as one string."""
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class StreamOptions(BaseModel):
    """Streaming options."""

    include_usage: bool = False
    """Send a last chunk with `usage` before `[DONE]`."""


class SamplingFields(BaseModel):
    """Sampling parameters shared by chat and text completions."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=256)
    """Model id, `id@version` or alias."""
    max_tokens: int | None = Field(default=None, ge=1)
    """Most tokens to generate (default 256)."""
    temperature: float = Field(default=1.0, ge=0, le=2)
    """0 is greedy and deterministic."""
    top_p: float = Field(default=1.0, gt=0, le=1)
    """Nucleus sampling mass."""
    seed: int | None = None
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
    """An end-user id, accepted for compatibility."""

    def wants_usage(self) -> bool:
        """Whether a streamed answer should end with a usage chunk."""
        return bool(self.stream_options and self.stream_options.include_usage)

    def stops(self) -> list[str]:
        """`stop` as a list."""
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class ChatCompletionRequest(SamplingFields):
    """A chat completion."""

    messages: list[ChatMessage] = Field(min_length=1, max_length=4096)
    """The conversation so far (the server may hold it to fewer: `models.chat.max_messages`)."""
    max_completion_tokens: int | None = Field(default=None, ge=1)
    """Newer name of `max_tokens`; wins when both are given."""


class CompletionRequest(SamplingFields):
    """A text completion."""

    prompt: str | list[str]
    """The text to continue (a list of one string is accepted)."""


class Usage(BaseModel):
    """Tokens used, counted by the model's tokenizer."""

    prompt_tokens: int
    """Tokens in the prompt, template included."""
    completion_tokens: int
    """Tokens generated."""
    total_tokens: int
    """The sum."""


class ChatRequest(BaseModel):
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


class AssistantMessage(BaseModel):
    """The model's answer in a chat completion."""

    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    """One answer of a chat completion."""

    index: int
    message: AssistantMessage
    finish_reason: str | None
    """`stop` (the answer ended or hit a stop string) or `length` (it ran out of tokens)."""
    logprobs: Any | None = None
    """Always null: log probabilities are not returned."""


class ChatCompletion(BaseModel):
    """`POST /v1/chat/completions` without streaming."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


def _unset(value: object) -> bool:
    return value is None


class ChunkDelta(BaseModel):
    """What one streamed chunk adds to the answer (unset fields are left out, as OpenAI's streams do)."""

    role: Literal["assistant"] | None = Field(default=None, exclude_if=_unset)
    content: str | None = Field(default=None, exclude_if=_unset)


class ChunkChoice(BaseModel):
    """One answer's piece in a streamed chunk."""

    index: int
    delta: ChunkDelta
    finish_reason: str | None = None


class ChatCompletionChunk(BaseModel):
    """One server-sent event of a streamed chat completion; the last, when usage was asked for, has no choices."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = Field(default=None, exclude_if=_unset)
    """Only in the last chunk, when `stream_options.include_usage` asked for it."""


class CompletionChoice(BaseModel):
    """One text completion (or, streamed, one piece of it)."""

    index: int
    text: str
    finish_reason: str | None = None
    logprobs: Any | None = None
    """Always null: log probabilities are not returned."""


class Completion(BaseModel):
    """`POST /v1/completions`, or one streamed chunk of it (the last, when usage was asked for, has no choices)."""

    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = Field(default=None, exclude_if=_unset)
    """Always in a whole answer; streamed, only in the last chunk when `stream_options.include_usage` asked."""
