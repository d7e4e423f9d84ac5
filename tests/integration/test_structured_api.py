"""Structured outputs, tool calls and every sampling parameter, through the official `openai` package, on the real
SmolLM2-135M-Instruct on both runtimes. The tests check validity and plumbing: a 135M model's judgement (which
tool, which values) is not what they measure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import jsonschema
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionMessageFunctionToolCall
from pydantic import BaseModel, Field

from tests.conftest import MakeSettings
from tests.integration.conftest import running_app

pytestmark = pytest.mark.integration


@pytest.fixture(
    scope="module", params=["smollm2-135m-instruct@1", "smollm2-135m-instruct@hf"], ids=["llama.cpp", "transformers"]
)
def runtime(request: pytest.FixtureRequest, make_settings: MakeSettings) -> Iterator[tuple[openai.OpenAI, str]]:
    """The official SDK over the app, on each runtime."""
    with running_app(make_settings(models={"enabled": [request.param]})) as client:
        sdk = openai.OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=client, max_retries=0)
        yield sdk, request.param


class City(BaseModel):
    """What the answers are parsed into."""

    name: str = Field(max_length=40)
    country: str = Field(max_length=40)
    population_millions: int = Field(ge=0, le=50)
    kind: Literal["capital", "port", "other"]


WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 40},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}
TIME: Any = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The local time in a time zone.",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string", "maxLength": 40}},
            "required": ["zone"],
            "additionalProperties": False,
        },
    },
}
ASK_WEATHER: Any = [{"role": "user", "content": "What is the weather like in Paris today?"}]
SCHEMAS = {"get_weather": WEATHER["function"]["parameters"], "get_time": TIME["function"]["parameters"]}


def ask(sdk: openai.OpenAI, **body: Any) -> ChatCompletion:
    """A whole chat completion through the SDK."""
    done: ChatCompletion = sdk.chat.completions.create(**body)
    return done


def function_calls(done: ChatCompletion) -> list[ChatCompletionMessageFunctionToolCall]:
    """The answer's function calls."""
    calls = done.choices[0].message.tool_calls or []
    assert all(isinstance(call, ChatCompletionMessageFunctionToolCall) for call in calls)
    return [call for call in calls if isinstance(call, ChatCompletionMessageFunctionToolCall)]


PLACES = ["Paris", "Tokyo", "Lagos", "Lima", "Oslo", "Cairo", "Sydney", "Hamburg"]


def test_parse_returns_a_valid_object_for_many_prompts(runtime: tuple[openai.OpenAI, str]) -> None:
    sdk, model = runtime
    prompts = [f"Describe the city of {place} as JSON." for place in PLACES]
    prompts += ["Invent a city.", "Tell me about a small fishing town.", "Which city do you like best?"]
    for prompt in prompts:
        done = sdk.chat.completions.parse(model=model, messages=[{"role": "user", "content": prompt}],
                                          response_format=City, temperature=0, max_tokens=120)  # fmt: skip
        city = done.choices[0].message.parsed
        assert isinstance(city, City), done.choices[0].message.content
        assert done.choices[0].finish_reason == "stop"


def test_sampled_json_object_answers_always_parse(runtime: tuple[openai.OpenAI, str]) -> None:
    sdk, model = runtime
    for seed in range(4):
        done = ask(sdk,
            model=model, messages=[{"role": "user", "content": "Give me a JSON object about a cat."}],
            response_format={"type": "json_object"}, temperature=1.0, seed=seed, max_tokens=100,
        )  # fmt: skip
        if done.choices[0].finish_reason == "stop":
            assert isinstance(json.loads(done.choices[0].message.content or ""), dict)


def test_a_schema_outside_the_subset_is_refused_naming_it(runtime: tuple[openai.OpenAI, str]) -> None:
    sdk, model = runtime
    bad = {"type": "object", "if": {"properties": {"a": {"const": 1}}}, "then": {"required": ["b"]}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": bad}}
    with pytest.raises(openai.BadRequestError) as refused:
        ask(sdk, model=model, messages=ASK_WEATHER, response_format=fmt)
    assert refused.value.param == "response_format"
    assert "if" in refused.value.message
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "string", "format": "no-such"}}}
    with pytest.raises(openai.BadRequestError) as refused:
        ask(sdk, model=model, messages=ASK_WEATHER, tools=[WEATHER, tool])
    assert refused.value.param == "tools[1].function.parameters"


def test_a_named_tool_choice_calls_that_function_with_valid_arguments(runtime: tuple[openai.OpenAI, str]) -> None:
    sdk, model = runtime
    for name in ("get_weather", "get_time"):
        done = ask(sdk, model=model, messages=ASK_WEATHER, tools=[WEATHER, TIME],
                                           tool_choice={"type": "function", "function": {"name": name}},
                                           temperature=0, max_tokens=120)  # fmt: skip
        choice = done.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.content is None
        calls = function_calls(done)
        assert len(calls) == 1
        assert calls[0].type == "function"
        assert calls[0].function.name == name
        jsonschema.validate(json.loads(calls[0].function.arguments), SCHEMAS[name])
        assert calls[0].id.startswith("call_")


def test_required_calls_a_tool_and_the_round_trip_ends_in_an_answer(runtime: tuple[openai.OpenAI, str]) -> None:
    sdk, model = runtime
    first = ask(sdk, model=model, messages=ASK_WEATHER, tools=[WEATHER, TIME],
                                        tool_choice="required", parallel_tool_calls=False, temperature=0,
                                        max_tokens=200)  # fmt: skip
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    calls = function_calls(first)
    assert calls
    for call in calls:
        jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])
    results = [{"role": "tool", "tool_call_id": c.id, "content": json.dumps({"temperature": 18, "sky": "clear"})}
               for c in calls]  # fmt: skip
    history = [*ASK_WEATHER, message.model_dump(exclude_none=True), *results]
    final = ask(sdk, model=model, messages=history, tools=[WEATHER, TIME], tool_choice="none",
                                        temperature=0, max_tokens=60)  # fmt: skip
    assert final.choices[0].finish_reason in {"stop", "length"}
    assert final.choices[0].message.content
    assert not final.choices[0].message.tool_calls


@pytest.mark.parametrize("parallel", [False, True], ids=["one-call", "parallel"])
def test_streamed_tool_calls_carry_their_index_id_and_arguments(
    runtime: tuple[openai.OpenAI, str], parallel: bool
) -> None:
    """One call ends the answer (`tool_calls`); parallel calls go on until the model stops or runs out of tokens
    (a 135M model tends to repeat itself), and a call cut short is never sent."""
    sdk, model = runtime
    stream = sdk.chat.completions.create(model=model, messages=ASK_WEATHER, tools=[WEATHER, TIME],
                                         tool_choice="required", parallel_tool_calls=parallel, temperature=0,
                                         max_tokens=150, stream=True)  # fmt: skip
    calls: dict[int, dict[str, str]] = {}
    reasons = []
    for chunk in stream:
        for choice in chunk.choices:
            reasons.append(choice.finish_reason)
            assert not choice.delta.content
            for piece in choice.delta.tool_calls or []:
                call = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
                call["id"] += piece.id or ""
                call["name"] += piece.function.name or "" if piece.function else ""
                call["arguments"] += piece.function.arguments or "" if piece.function else ""
    assert reasons[-1] == "tool_calls" if not parallel else reasons[-1] in {"tool_calls", "length"}
    assert calls
    assert sorted(calls) == list(range(len(calls)))
    assert len(calls) == 1 or parallel
    for call in calls.values():
        assert call["id"].startswith("call_")
        jsonschema.validate(json.loads(call["arguments"]), SCHEMAS[call["name"]])
    whole = ask(sdk, model=model, messages=ASK_WEATHER, tools=[WEATHER, TIME],
                                        tool_choice="required", parallel_tool_calls=parallel, temperature=0,
                                        max_tokens=150)  # fmt: skip
    assert [(c.function.name, c.function.arguments) for c in function_calls(whole)] == [
        (c["name"], c["arguments"]) for c in calls.values()
    ]


def test_auto_tool_choice_answers_or_calls_validly(runtime: tuple[openai.OpenAI, str]) -> None:
    sdk, model = runtime
    for question in ("What is the weather like in Oslo?", "Say hello.", "What time is it in Tokyo?"):
        done = ask(sdk, model=model, messages=[{"role": "user", "content": question}],
                                           tools=[WEATHER, TIME], temperature=0, max_tokens=120)  # fmt: skip
        choice = done.choices[0]
        if choice.message.tool_calls:
            assert choice.finish_reason == "tool_calls"
            for call in function_calls(done):
                jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])
        else:
            assert choice.message.content
            assert not choice.message.content.startswith("<")


def test_constrained_and_free_answers_share_a_batch_unchanged(runtime: tuple[openai.OpenAI, str]) -> None:
    """A mask per answer: decoded together, constrained and free answers are the ones each gets alone."""
    sdk, model = runtime
    schema = {"name": "city", "schema": City.model_json_schema()}
    bodies: list[dict[str, Any]] = []
    for i, place in enumerate(PLACES[:6]):
        body: dict[str, Any] = {"messages": [{"role": "user", "content": f"Tell me about {place}."}]}
        if i % 2 == 0:
            body["response_format"] = {"type": "json_schema", "json_schema": schema}
        bodies.append(body)

    def answer(body: dict[str, Any]) -> str:
        done = ask(sdk, model=model, temperature=0, max_tokens=40, **body)
        return done.choices[0].message.content or ""

    alone = [answer(body) for body in bodies]
    with ThreadPoolExecutor(len(bodies)) as pool:
        together = list(pool.map(answer, bodies))
    assert together == alone
    assert all(answer.startswith('{"name": ') for answer in alone[::2])
    assert not any(answer.startswith("{") for answer in alone[1::2])
