"""Structured answers: `response_format` and `tools` turned into the grammar the engine holds an answer to, and the
tool calls read back out of the answer.

The answer's language, by `tool_choice`:

- no tools, or `none`: the response format's JSON, or free text;
- `auto`: the response format's JSON (or text that does not open with `<`), or calls;
- `required`: one or more calls; a named function: one call of it.

A call is written `<tool_call>{"name": "f", "arguments": {...}}</tool_call>` (the format of Hermes and Qwen models,
and of `engine/backends/chat_template.py` for templates that know no tools), several separated by a newline, with
the arguments held to the function's `parameters`. JSON is compact (no free whitespace), so a small model cannot pad
an answer with blank lines until it runs out of tokens.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import llguidance

from aiserve.errors import InvalidInput
from aiserve.guidance import refusing
from aiserve.protocol.chat import (
    ChatCompletionRequest,
    FunctionDefinition,
    JsonObjectFormat,
    JsonSchemaResponseFormat,
    NamedToolChoice,
)

COMPACT: dict[str, Any] = {"whitespace_flexible": False, "key_separator": ": ", "item_separator": ", "}
"""JSON written as `{"a": 1, "b": [2, 3]}`."""

OPEN, CLOSE = "<tool_call>", "</tool_call>"
_CALL = re.compile(re.escape(OPEN) + r"\s*(.*?)\s*" + re.escape(CLOSE), re.DOTALL)


@dataclass(frozen=True, slots=True)
class Plan:
    """What a chat request asks of its answer: the grammar (None: free text), the tools shown to the model, and
    whether the answer may hold calls."""

    grammar: str | None
    tools: tuple[dict[str, Any], ...] = ()
    calls: bool = False


def _schema_grammar(schema: dict[str, Any], param: str) -> str:
    """The grammar of JSON following `schema`; 400 naming `param` when the schema is outside the subset."""
    with refusing(param, "is not a JSON Schema this server can follow"):
        grammar: str = llguidance.LLMatcher.grammar_from_json_schema(schema, defaults=COMPACT)  # type: ignore[arg-type]
        problem = llguidance.LLMatcher.validate_grammar(grammar)
    if problem:
        raise InvalidInput(f"'{param}' is not a JSON Schema this server can follow: {problem}", param=param)
    return grammar


def _format_schema(request: ChatCompletionRequest) -> dict[str, Any] | None:
    fmt = request.response_format
    if isinstance(fmt, JsonSchemaResponseFormat):
        return fmt.json_schema.schema_
    if isinstance(fmt, JsonObjectFormat):
        return {"type": "object"}
    return None


def _call_schema(function: FunctionDefinition) -> dict[str, Any]:
    arguments = function.parameters if function.parameters else {"type": "object"}
    return {"type": "object", "properties": {"name": {"const": function.name}, "arguments": arguments},
            "required": ["name", "arguments"], "additionalProperties": False}  # fmt: skip


def plan(request: ChatCompletionRequest) -> Plan:
    """The grammar and tools for a chat request; 400 naming the field when a schema cannot be followed."""
    schema = _format_schema(request)
    tools = request.tools or []
    choice = request.tool_choice or ("auto" if tools else "none")
    if choice != "none" and not tools:
        raise InvalidInput("'tool_choice' needs 'tools'.", param="tool_choice")
    names = [t.function.name for t in tools]
    if len(set(names)) != len(names):
        raise InvalidInput("'tools' names a function twice.", param="tools")
    for i, tool in enumerate(tools):  # each schema on its own, so the error names the function at fault
        if tool.function.parameters is not None:
            _schema_grammar(tool.function.parameters, f"tools[{i}].function.parameters")
    fmt_grammar = _schema_grammar(schema, "response_format") if schema is not None else None
    shown = tuple(t.model_dump(exclude_none=True) for t in tools)
    if choice == "none":
        return Plan(fmt_grammar, ())
    chosen = tools
    if isinstance(choice, NamedToolChoice):
        chosen = [t for t in tools if t.function.name == choice.function.name]
        if not chosen:
            raise InvalidInput(f"'tool_choice' names '{choice.function.name}', which is not in 'tools'.",
                               param="tool_choice")  # fmt: skip
    call = json.dumps({"anyOf": [_call_schema(t.function) for t in chosen], "x-guidance": COMPACT})
    several = request.parallel_tool_calls and not isinstance(choice, NamedToolChoice)
    rules = [f'call: "{OPEN}" %json {call} "{CLOSE}"',
             'calls: call ("\\n" call)*' if several else "calls: call"]  # fmt: skip
    if choice == "auto":
        answer = f"%json {json.dumps({**schema, 'x-guidance': COMPACT})}" if schema is not None else "TEXT"
        rules += [f"start: calls | {answer}", r"TEXT: /[^<](.|\n)*/"]
    else:
        rules.append("start: calls")
    with refusing("tools", "cannot be offered together"):
        grammar = llguidance.LLMatcher.grammar_from_lark("\n".join(rules))
        problem = llguidance.LLMatcher.validate_grammar(grammar)
    if problem:
        raise InvalidInput(f"The tools cannot be offered together: {problem}", param="tools")
    return Plan(grammar, shown, calls=True)


@dataclass(frozen=True, slots=True)
class Call:
    """A call read out of an answer."""

    id: str
    name: str
    arguments: str


def _call(body: str) -> Call | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("name"), str):
        return None
    arguments = json.dumps(parsed.get("arguments", {}), ensure_ascii=False)
    return Call(f"call_{uuid.uuid4().hex[:24]}", parsed["name"], arguments)


def read_calls(text: str) -> list[Call]:
    """The complete calls in an answer that opens with one (none otherwise)."""
    if not text.lstrip().startswith(OPEN):
        return []
    return [call for body in _CALL.findall(text) if (call := _call(body)) is not None]


def spoken(text: str) -> str:
    """An answer's text for the client: none when it opened with a call (a call cut short by `max_tokens` is not
    text), as a streamed answer gives it."""
    start = text.lstrip()
    return "" if start.startswith(OPEN) or (start and OPEN.startswith(start)) else text


@dataclass
class CallStream:
    """Reads a streamed answer: text passes through; an answer that opens with a call is held until each call is
    complete, and each call then comes out whole."""

    calls: list[Call] = field(default_factory=list)
    _held: str = ""
    _mode: str = ""
    """`text` or `calls` once the answer's first characters tell."""

    def feed(self, piece: str) -> tuple[str, list[Call]]:
        """The text to send now, and the calls completed by `piece`."""
        if self._mode == "text":
            return piece, []
        self._held += piece
        if not self._mode:
            start = self._held.lstrip()
            if not start or OPEN.startswith(start):
                return "", []
            if not start.startswith(OPEN):
                self._mode, text, self._held = "text", self._held, ""
                return text, []
            self._mode = "calls"
        found = list(self._complete())
        self.calls += found
        return "", found

    def rest(self) -> str:
        """Text held back when the answer ended: blank text is given back, a call cut short by `max_tokens` is not
        (as in a whole answer, the complete calls come with `finish_reason: length`)."""
        return "" if self._held.strip() else self._held

    def _complete(self) -> Iterator[Call]:
        while (match := _CALL.search(self._held)) is not None:
            self._held = self._held[match.end() :]
            if (call := _call(match.group(1))) is not None:
                yield call
