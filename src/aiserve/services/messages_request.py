"""A Messages request (Anthropic's) as the chat completion request the chat service serves, and the way back for its
errors: a chat field at fault is named as the Messages field it came from.

- `system` becomes a system message; each turn becomes a chat message, except that a user's `tool_result` blocks
  become `tool` messages (`is_error` noted in their text) and an assistant's `tool_use` blocks become its
  `tool_calls` (the arguments the JSON of `input`);
- `image` blocks become `image_url` parts (a `data:` URL, or the URL), seen by the vision bridge; images in a tool
  result follow its `tool` message in a user message;
- `tools` become functions (`input_schema` their parameters); `tool_choice` `any` is `required`, `tool` a named
  function, `disable_parallel_tool_use` is `parallel_tool_calls: false`;
- `stop_sequences` is `stop`, `metadata.user_id` is `user`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from aiserve.errors import InvalidInput
from aiserve.protocol.chat import (
    ChatCompletionRequest,
    ChatMessage,
    ContentPart,
    FunctionCall,
    FunctionDefinition,
    ImagePart,
    ImageUrl,
    NamedFunction,
    NamedToolChoice,
    StreamOptions,
    TextPart,
    ToolCall,
    ToolDefinition,
)
from aiserve.protocol.messages import (
    Base64ImageSource,
    ContentBlockParam,
    CountTokensRequest,
    ImageBlockParam,
    MessageParam,
    MessagesRequest,
    TextBlockParam,
    ToolChoiceParam,
    ToolResultBlockParam,
    ToolUseBlockParam,
)

_REFUSED = {
    "container": "this server runs no code containers",
    "mcp_servers": "this server connects to no MCP servers",
    "context_management": "the conversation is taken as it is sent",
    "output_config": "for a JSON answer, give a tool and a 'tool_choice' naming it",
    "inference_geo": "answers are computed where this server runs",
    "diagnostics": "no prompt-cache diagnostics are reported",
}
"""Messages fields this server cannot honour, refused with 400 when given, and why."""

_BLOCKS_REFUSED = {
    "document": "send the document's text in a text block",
    "search_result": "send search results as text",
    "thinking": "no model here thinks before answering",
    "redacted_thinking": "no model here thinks before answering",
}
"""Blocks this server cannot take, and why (the others it refuses are server tools' blocks)."""

_CHOICES: dict[str, Literal["auto", "required", "none"]] = {"auto": "auto", "any": "required", "none": "none"}


def tool_arguments(value: dict[str, Any]) -> str:
    """A tool call's input as the JSON text of its arguments, written as the chat answers write it."""
    return json.dumps(value, ensure_ascii=False)


@dataclass
class Places:
    """Where each chat request field came from in the Messages request: a chat field named by an error is renamed
    to it."""

    renamed: dict[str, str] = field(default_factory=dict)

    def rename(self, exc: InvalidInput) -> None:
        """Name, in `exc`, the Messages field its chat field came from."""
        param = exc.param or ""
        for old, new in sorted(self.renamed.items(), key=lambda item: -len(item[0])):
            if param == old or param.startswith((old + ".", old + "[")):
                renamed = new + param[len(old) :]
                message = exc.message.replace(f"'{param}'", f"'{renamed}'")
                if renamed not in message:
                    message = f"{renamed}: {message}"
                exc.param, exc.message, exc.args = renamed, message, (message,)
                return

    @contextmanager
    def naming(self) -> Iterator[None]:
        """Inside, an `InvalidInput` raised by the chat service names the Messages field at fault."""
        try:
            yield
        except InvalidInput as exc:
            self.rename(exc)
            raise


@dataclass
class _Conversation:
    """The chat messages of a Messages conversation, built turn by turn."""

    messages: list[ChatMessage] = field(default_factory=list)
    places: Places = field(default_factory=Places)
    _parts: list[tuple[ContentPart, str]] = field(default_factory=list)
    """The user's parts not yet in a message, each with the Messages block it came from."""

    def system(self, blocks: list[TextBlockParam]) -> None:
        if blocks:
            self.messages.append(ChatMessage(role="system", content=[TextPart(text=b.text) for b in blocks]))

    def turn(self, i: int, turn: MessageParam) -> None:
        if turn.role == "assistant":
            self._assistant(i, turn)
            return
        for j, block in enumerate(turn.content):
            where = f"messages[{i}].content[{j}]"
            if isinstance(block, ToolResultBlockParam):
                self._flush()
                self._tool_result(where, block)
            elif isinstance(block, ImageBlockParam):
                self._parts.append((_image(block), f"{where}.source"))
            elif isinstance(block, TextBlockParam):
                self._parts.append((TextPart(text=block.text), where))
            else:
                _refuse(block, where)
        self._flush()

    def _assistant(self, i: int, turn: MessageParam) -> None:
        texts: list[str] = []
        calls: list[ToolCall] = []
        for j, block in enumerate(turn.content):
            if isinstance(block, TextBlockParam):
                texts.append(block.text)
            elif isinstance(block, ToolUseBlockParam):
                function = FunctionCall(name=block.name, arguments=tool_arguments(block.input))
                calls.append(ToolCall(id=block.id, function=function))
            else:
                _refuse(block, f"messages[{i}].content[{j}]")
        content = "".join(texts) if texts or not calls else None
        self.messages.append(ChatMessage(role="assistant", content=content, tool_calls=calls or None))

    def _tool_result(self, where: str, block: ToolResultBlockParam) -> None:
        text = "\n".join(part.text for part in block.content if isinstance(part, TextBlockParam))
        if block.is_error:
            text = f"Error: {text}"
        self.messages.append(ChatMessage(role="tool", content=text, tool_call_id=block.tool_use_id))
        images = [(k, part) for k, part in enumerate(block.content) if isinstance(part, ImageBlockParam)]
        if images:
            self._parts.append((TextPart(text=f"The result of {block.tool_use_id} holds images:"), where))
            self._parts += [(_image(part), f"{where}.content[{k}].source") for k, part in images]

    def _flush(self) -> None:
        """The user's pending parts as one user message."""
        if not self._parts:
            return
        m = len(self.messages)
        for p, (part, where) in enumerate(self._parts):
            if isinstance(part, ImagePart):
                self.places.renamed[f"messages[{m}].content[{p}].image_url"] = where
        self.messages.append(ChatMessage(role="user", content=[part for part, _ in self._parts]))
        self._parts = []


def _image(block: ImageBlockParam) -> ImagePart:
    source = block.source
    url = f"data:{source.media_type};base64,{source.data}" if isinstance(source, Base64ImageSource) else source.url
    return ImagePart(type="image_url", image_url=ImageUrl(url=url))


def _refuse(block: ContentBlockParam, where: str) -> None:
    why = _BLOCKS_REFUSED.get(block.type, "this server runs no server tools")
    raise InvalidInput(f"{where}: '{block.type}' blocks are not supported: {why}.", param=where)


def refuse_unsupported(request: CountTokensRequest) -> None:
    """400 naming the first field this server cannot honour, and why."""
    for name, why in _REFUSED.items():
        if getattr(request, name, None) is not None:
            raise InvalidInput(f"'{name}' is not supported: {why}.", param=name)
    if request.thinking is not None and request.thinking.type != "disabled":
        raise InvalidInput("'thinking' is not supported: no model here thinks before answering (only "
                           '{"type": "disabled"} is accepted).', param="thinking")  # fmt: skip
    if request.messages[-1].role == "assistant":
        raise InvalidInput("The last turn is the assistant's: continuing it (prefill) is not supported; end with a "
                           "user's turn.", param=f"messages[{len(request.messages) - 1}]")  # fmt: skip


def _tool_choice(choice: ToolChoiceParam | None) -> Literal["auto", "required", "none"] | NamedToolChoice | None:
    if choice is None:
        return None
    if choice.type == "tool":
        return NamedToolChoice(type="function", function=NamedFunction(name=choice.name or ""))
    return _CHOICES[choice.type]


def _sampling(request: CountTokensRequest) -> dict[str, Any]:
    """The generation fields of a request that asks for an answer (none when only counting)."""
    if not isinstance(request, MessagesRequest):
        return {}
    user = request.metadata.user_id if request.metadata else None
    return {"max_tokens": request.max_tokens, "temperature": request.temperature, "top_p": request.top_p or 1.0,
            "top_k": request.top_k or 0, "stop": request.stop_sequences, "stream": request.stream,
            "stream_options": StreamOptions(include_usage=True) if request.stream else None, "user": user}  # fmt: skip


def chat_request(request: CountTokensRequest) -> tuple[ChatCompletionRequest, Places]:
    """The chat completion request that serves `request`, and where its fields came from; 400 naming the field
    for what cannot be honoured."""
    refuse_unsupported(request)
    conversation = _Conversation()
    conversation.system(request.system or [])
    for i, turn in enumerate(request.messages):
        conversation.turn(i, turn)
    tools = [ToolDefinition(type="function", function=FunctionDefinition(name=t.name, description=t.description,
             parameters=t.input_schema)) for t in request.tools or ()]  # fmt: skip
    places = conversation.places
    places.renamed.update({f"tools[{i}].function": f"tools[{i}]" for i in range(len(tools))})
    places.renamed.update({f"tools[{i}].function.parameters": f"tools[{i}].input_schema" for i in range(len(tools))})
    places.renamed.update({"stop": "stop_sequences", "user": "metadata.user_id"})
    choice = request.tool_choice
    try:
        chat = ChatCompletionRequest(
            model=request.model, messages=conversation.messages, tools=tools or None,
            tool_choice=_tool_choice(choice), parallel_tool_calls=not (choice and choice.disable_parallel_tool_use),
            **_sampling(request),
        )  # fmt: skip
    except ValidationError as exc:  # a conversation that passed the Messages schema but not the chat one
        error = exc.errors()[0]
        raise InvalidInput(f"The conversation cannot be served: {error['msg']}.", param="messages") from None
    return chat, places
