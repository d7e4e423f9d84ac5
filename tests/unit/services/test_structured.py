"""Turning `response_format` and `tools` into grammars, and reading calls back: any JSON a client sends as a schema is
a grammar or a 400 naming the field, never a crash; calls read from a stream, however it is cut, are the calls read
from the whole answer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from aiserve.errors import InvalidInput
from aiserve.protocol.chat import ChatCompletionRequest
from aiserve.services.structured import CallStream, plan, read_calls

pytestmark = pytest.mark.unit

KEYWORDS = ["type", "properties", "items", "required", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "$defs",
            "pattern", "format", "minimum", "maximum", "minLength", "maxLength", "additionalProperties", "if",
            "not"]  # fmt: skip
scalars = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=False) | st.text(max_size=12)
keys = st.sampled_from(KEYWORDS) | st.text(max_size=8)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5), max_leaves=30
)
schemas = st.dictionaries(keys, json_values, max_size=6)


def request(**fields: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"model": "m", "messages": [{"role": "user", "content": "hi"}],
                                                 **fields})  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(schema=schemas, choice=st.sampled_from(["auto", "required", "none", "named"]), with_format=st.booleans())
def test_any_schema_is_a_grammar_or_a_400_naming_its_field(
    schema: dict[str, Any], choice: str, with_format: bool
) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
    fields: dict[str, Any] = {"tools": [tool], "tool_choice": choice}
    if choice == "named":
        fields["tool_choice"] = {"type": "function", "function": {"name": "f"}}
    if with_format:
        fields["response_format"] = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    refused: InvalidInput | None = None
    try:
        made = plan(request(**fields))
    except InvalidInput as exc:
        refused = exc
    if refused is not None:
        assert refused.param in {"tools[0].function.parameters", "response_format", "tools"}
    else:
        assert made.grammar is not None or (choice == "none" and not with_format)


def test_plans_by_tool_choice() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    assert plan(request()).grammar is None
    assert plan(request(response_format={"type": "json_object"})).grammar is not None
    assert not plan(request(tools=[tool], tool_choice="none")).calls
    assert plan(request(tools=[tool])).calls  # auto by default
    assert plan(request(tools=[tool])).tools == ({"type": "function", "function": tool["function"]},)
    with pytest.raises(InvalidInput) as alone:
        plan(request(tool_choice="required"))
    assert alone.value.param == "tool_choice"


CALLS = ('<tool_call>{"name": "get_weather", "arguments": {"city": "Paris <b>", "unit": "celsius"}}</tool_call>\n'
         '<tool_call>{"name": "get_time", "arguments": {}}</tool_call>')  # fmt: skip


def test_calls_are_read_from_a_whole_answer() -> None:
    calls = read_calls(CALLS)
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris <b>", "unit": "celsius"}), ("get_time", {})]  # fmt: skip
    assert all(c.id.startswith("call_") for c in calls)
    assert read_calls("The weather is fine.") == []
    assert [c.name for c in read_calls(CALLS + '\n<tool_call>{"name": "cut')] == ["get_weather", "get_time"]


@given(cuts=st.lists(st.integers(0, len(CALLS)), max_size=20), text=st.booleans())
def test_a_stream_cut_anywhere_reads_the_same_calls_or_passes_text_through(cuts: list[int], text: bool) -> None:
    answer = "Sunny, 18 degrees <in Paris>." if text else CALLS
    points = sorted({min(c, len(answer)) for c in cuts} | {0, len(answer)})
    reader = CallStream()
    sent, calls = "", []
    for start, end in zip(points, points[1:], strict=False):
        piece_text, piece_calls = reader.feed(answer[start:end])
        sent += piece_text
        calls += piece_calls
    if text:
        assert sent + reader.rest() == answer
        assert calls == []
    else:
        assert sent == ""
        assert [(c.name, c.arguments) for c in calls] == [(c.name, c.arguments) for c in read_calls(CALLS)]
        assert reader.rest() == ""
