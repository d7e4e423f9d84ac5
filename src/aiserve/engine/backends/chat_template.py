"""A model's own Jinja chat template, rendered as transformers renders it (sandboxed, trimmed blocks), with tools.

A template that knows tools (it reads `tools`) gets them, with assistant turns carrying `tool_calls` and `tool` turns,
as the model was trained to see them. A template that does not gets them in one documented format instead: the
functions and how to call them in the system turn, each earlier call written as the model would have written it
(`<tool_call>{"name": ..., "arguments": ...}</tool_call>`), and each result as a user turn in `<tool_response>` tags.
That is the format the answer is held to either way (see `services/structured.py`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from jinja2.exceptions import TemplateError
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

from aiserve.engine.protocol import Message
from aiserve.errors import InvalidInput

TOOL_INSTRUCTIONS = (
    "You may call one or more functions to answer. To call one, answer with "
    '<tool_call>{"name": <function name>, "arguments": <arguments as a JSON object>}</tool_call> and nothing '
    "else; the results come back in <tool_response> tags. The functions:\n"
)
"""Written into the system turn, before one JSON function definition per line, where the template knows no tools."""


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
            sort_keys: bool = False) -> str:  # fmt: skip
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _raise(message: str) -> None:
    raise InvalidInput(f"The model's chat template refused the conversation: {message}", param="messages")


class ChatTemplate:
    """Renders conversations with one template; `bos` and `eos` are the tokenizer's markers the template may use."""

    def __init__(self, source: str, *, bos: str = "", eos: str = "") -> None:
        environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
        environment.filters["tojson"] = _tojson
        environment.globals["raise_exception"] = _raise
        environment.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        self._template = environment.from_string(source)
        self._markers = {"bos_token": bos, "eos_token": eos}
        self.knows_tools = "tools" in source

    def render(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()) -> str:
        """The prompt: the conversation, then the opening of the assistant's turn."""
        if self.knows_tools:
            turns, shown = [_native(m) for m in messages], (list(tools) or None)
        else:
            turns, shown = _written(messages, tools), None
        try:
            return self._template.render(messages=turns, tools=shown, add_generation_prompt=True, **self._markers)
        except TemplateError as exc:
            raise InvalidInput(f"The model's chat template failed on the conversation: {exc}",
                               param="messages") from None  # fmt: skip


def _arguments(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _native(message: Message) -> dict[str, Any]:
    turn: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.name is not None:
        turn["name"] = message.name
    if message.tool_calls:
        turn["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": _arguments(c.arguments)}}
            for c in message.tool_calls
        ]
    if message.tool_call_id is not None:
        turn["tool_call_id"] = message.tool_call_id
    return turn


def written_call(name: str, arguments: str) -> str:
    """A tool call as the documented format writes it."""
    return f'<tool_call>{{"name": {json.dumps(name)}, "arguments": {arguments}}}</tool_call>'


def _written(messages: Sequence[Message], tools: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "tool":
            turns.append({"role": "user", "content": f"<tool_response>\n{message.content}\n</tool_response>"})
        elif message.tool_calls:
            calls = "\n".join(written_call(c.name, c.arguments) for c in message.tool_calls)
            turns.append({"role": "assistant", "content": f"{message.content}\n{calls}" if message.content else calls})
        else:
            turns.append({"role": message.role, "content": message.content})
    if tools:
        listing = TOOL_INSTRUCTIONS + "\n".join(json.dumps(tool, ensure_ascii=False) for tool in tools)
        if turns and turns[0]["role"] == "system":
            turns[0] = {"role": "system", "content": f"{turns[0]['content']}\n\n{listing}"}
        else:
            turns.insert(0, {"role": "system", "content": listing})
    return turns
