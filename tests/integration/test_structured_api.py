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
from fastapi.testclient import TestClient
from openai.types import completion_create_params
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionMessageFunctionToolCall,
    completion_create_params as chat_create_params,
)
from pydantic import BaseModel, Field

from tests.conftest import MakeSettings
from tests.integration.conftest import running_app

pytestmark = pytest.mark.integration


@pytest.fixture(
    scope="module", params=["smollm2-135m-instruct@1", "smollm2-135m-instruct@hf"], ids=["llama.cpp", "transformers"]
)
def served(request: pytest.FixtureRequest, make_settings: MakeSettings) -> Iterator[tuple[TestClient, str]]:
    """The app on each runtime."""
    with running_app(make_settings(models={"enabled": [request.param]})) as client:
        yield client, request.param


@pytest.fixture(scope="module")
def runtime(served: tuple[TestClient, str]) -> tuple[openai.OpenAI, str]:
    """The official SDK over the app."""
    client, model = served
    return openai.OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=client, max_retries=0), model


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
    streamed = [(c["name"], c["arguments"]) for c in calls.values()]
    whole_calls = [(c.function.name, c.function.arguments) for c in function_calls(whole)]
    # the same calls, whole or streamed (a long parallel answer may part ways where two tokens are near-ties: the
    # second request reuses the first one's cached prompt, evaluated in a different batch)
    assert whole_calls == streamed if not parallel else whole_calls[:1] == streamed[:1]
    # the round trip, streamed: the calls and their results go back, the answer comes as text
    turn = {"role": "assistant", "content": None, "tool_calls": [
        {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
        for c in calls.values()]}  # fmt: skip
    results = [{"role": "tool", "tool_call_id": c["id"], "content": '{"temperature": 18}'} for c in calls.values()]
    history: Any = [*ASK_WEATHER, turn, *results]
    final = sdk.chat.completions.create(model=model, messages=history, tools=[WEATHER, TIME],
                                        temperature=0, max_tokens=40, stream=True, tool_choice="none")  # fmt: skip
    text = "".join(choice.delta.content or "" for chunk in final for choice in chunk.choices)
    assert text
    assert "<tool_call>" not in text


def test_a_call_cut_short_is_never_text_whole_or_streamed(runtime: tuple[openai.OpenAI, str]) -> None:
    sdk, model = runtime
    asked: Any = {"model": model, "messages": ASK_WEATHER, "tools": [WEATHER], "tool_choice": "required",
                  "temperature": 0, "max_tokens": 4}  # fmt: skip
    whole = ask(sdk, **asked)
    assert whole.choices[0].finish_reason == "length"
    assert not whole.choices[0].message.content
    assert not whole.choices[0].message.tool_calls
    streamed = sdk.chat.completions.create(**asked, stream=True)
    assert not "".join(choice.delta.content or "" for chunk in streamed for choice in chunk.choices)


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


HI = [{"role": "user", "content": "Say something about the sea."}]

# every parameter of OpenAI's chat completions reference (as the official SDK types it), with a value that is
# honoured (200) or refused (400 naming it)
CHAT_PARAMETERS: dict[str, tuple[Any, int]] = {
    "audio": ({"voice": "alloy", "format": "wav"}, 400),
    "frequency_penalty": (0.5, 200),
    "function_call": ("auto", 400),
    "functions": ([{"name": "f", "parameters": {"type": "object"}}], 400),
    "logit_bias": ({"1000": 5}, 200),
    "logprobs": (True, 200),
    "max_completion_tokens": (4, 200),
    "max_tokens": (4, 200),
    "metadata": ({"team": "a"}, 400),
    "modalities": (["text", "audio"], 400),
    "moderation": ({"model": "x"}, 400),
    "n": (2, 400),
    "parallel_tool_calls": (False, 200),
    "prediction": ({"type": "content", "content": "The sea"}, 400),
    "presence_penalty": (0.5, 200),
    "prompt_cache_key": ("sea", 200),
    "prompt_cache_options": ({}, 400),
    "prompt_cache_retention": ("24h", 400),
    "reasoning_effort": ("low", 400),
    "response_format": ({"type": "json_object"}, 200),
    "safety_identifier": ("user-1", 200),
    "seed": (7, 200),
    "service_tier": ("flex", 400),
    "stop": (["\n"], 200),
    "store": (True, 400),
    "stream_options": ({"include_usage": True}, 400),  # without `stream`
    "temperature": (0.5, 200),
    "tool_choice": ("required", 400),  # without `tools`
    "tools": ([WEATHER], 200),
    "top_logprobs": (2, 400),  # without `logprobs`
    "top_p": (0.5, 200),
    "user": ("user-1", 200),
    "verbosity": ("low", 400),
    "web_search_options": ({}, 400),
}
TEXT_PARAMETERS: dict[str, tuple[Any, int]] = {
    "best_of": (2, 400),
    "echo": (True, 200),
    "frequency_penalty": (0.5, 200),
    "logit_bias": ({"1000": 5}, 200),
    "logprobs": (2, 200),
    "max_tokens": (4, 200),
    "n": (2, 400),
    "presence_penalty": (0.5, 200),
    "seed": (7, 200),
    "stop": (["\n"], 200),
    "stream_options": ({"include_usage": True}, 400),
    "suffix": ("the end", 400),
    "temperature": (0.5, 200),
    "top_p": (0.5, 200),
    "user": ("user-1", 200),
}
EXTENSIONS: dict[str, tuple[Any, int]] = {
    "top_k": (5, 200), "min_p": (0.1, 200), "repetition_penalty": (1.3, 200), "no_such_field": (1, 400),
    "seed": (2**64 + 383, 400),  # found by the fuzzer: a bound past 64 bits in the error made orjson fail, a 500
}  # fmt: skip


def test_every_reference_parameter_is_classified() -> None:
    assert set(CHAT_PARAMETERS) == set(chat_create_params.CompletionCreateParamsBase.__annotations__) - {
        "messages", "model"}  # fmt: skip
    assert set(TEXT_PARAMETERS) == set(completion_create_params.CompletionCreateParamsBase.__annotations__) - {
        "prompt", "model"}  # fmt: skip


@pytest.mark.parametrize(("path", "base", "table"), [
    ("/v1/chat/completions", {"messages": HI}, CHAT_PARAMETERS | EXTENSIONS),
    ("/v1/completions", {"prompt": "The sea is"}, TEXT_PARAMETERS | EXTENSIONS),
], ids=["chat", "text"])  # fmt: skip
def test_every_parameter_is_honoured_or_refused_naming_it(
    served: tuple[TestClient, str], path: str, base: dict[str, Any], table: dict[str, tuple[Any, int]]
) -> None:
    client, model = served
    for name, (value, status) in table.items():
        answer = client.post(path, json={"model": model, "max_tokens": 4, "temperature": 0, **base, name: value})
        assert answer.status_code == status, (name, answer.text[:300])
        if status == 400:
            param = answer.json()["error"]["param"] or ""
            assert param.split(".")[0].split("[")[0] == name, (name, answer.json())
    accepted = client.post(path, json={"model": model, "max_tokens": 4, **base, "stream": True,
                                       "stream_options": {"include_usage": True}})  # fmt: skip
    assert accepted.status_code == 200


def test_logprobs_describe_each_answer_token(runtime: tuple[openai.OpenAI, str]) -> None:
    sdk, model = runtime
    done = ask(sdk, model=model, messages=HI, temperature=0, max_tokens=12, logprobs=True, top_logprobs=3)
    content = done.choices[0].logprobs.content if done.choices[0].logprobs else None
    assert content is not None
    assert done.usage is not None
    assert len(content) == done.usage.completion_tokens
    assert "".join(t.token for t in content) == done.choices[0].message.content
    for token in content:
        assert token.logprob <= 0
        assert len(token.top_logprobs) == 3
        assert [t.logprob for t in token.top_logprobs] == sorted((t.logprob for t in token.top_logprobs), reverse=True)
        assert token.top_logprobs[0].token == token.token  # greedy: the likeliest token was chosen
        assert bytes(token.bytes or []).decode(errors="replace") == token.token


def test_sampling_extensions_change_the_choice_as_documented(served: tuple[TestClient, str]) -> None:
    client, model = served

    def text(**body: Any) -> str:
        answer = client.post("/v1/chat/completions", json={"model": model, "messages": HI, "max_tokens": 16, **body})
        assert answer.status_code == 200, answer.text
        content: str = answer.json()["choices"][0]["message"]["content"]
        return content

    greedy = text(temperature=0)
    assert text(temperature=1.5, top_k=1, seed=3) == greedy  # one token left: the likeliest
    assert text(temperature=1.5, min_p=1.0, seed=3) == greedy  # only the likeliest is as likely as itself
    assert text(temperature=0, frequency_penalty=2.0, presence_penalty=2.0) != greedy
    assert text(temperature=0, repetition_penalty=3.0) != greedy
    forced = client.post("/v1/chat/completions", json={"model": model, "messages": HI, "max_tokens": 6,
                                                       "temperature": 0, "logit_bias": {"1000": 100},
                                                       "logprobs": True})  # fmt: skip
    tokens = [t["bytes"] for t in forced.json()["choices"][0]["logprobs"]["content"]]
    assert len(tokens) == 6
    assert len({bytes(t) for t in tokens}) == 1  # every choice is the biased token
    outside = client.post("/v1/chat/completions", json={"model": model, "messages": HI, "logit_bias": {"99999999": 1}})
    assert outside.status_code == 400
    assert outside.json()["error"]["param"] == "logit_bias"


def test_text_completion_echo_and_logprobs(served: tuple[TestClient, str]) -> None:
    client, model = served
    prompt = "The capital of France is"
    echoed = client.post("/v1/completions", json={"model": model, "prompt": prompt, "max_tokens": 5, "echo": True,
                                                  "temperature": 0}).json()  # fmt: skip
    plain = client.post("/v1/completions", json={"model": model, "prompt": prompt, "max_tokens": 5,
                                                 "temperature": 0, "logprobs": 2}).json()  # fmt: skip
    assert echoed["choices"][0]["text"] == prompt + plain["choices"][0]["text"]
    logprobs = plain["choices"][0]["logprobs"]
    assert len(logprobs["tokens"]) == len(logprobs["token_logprobs"]) == plain["usage"]["completion_tokens"]
    assert "".join(logprobs["tokens"]) == plain["choices"][0]["text"]
    assert logprobs["text_offset"][0] == 0
    assert all(len(top) <= 2 for top in logprobs["top_logprobs"])


def _nested(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}, "required": ["a"]}
    return schema


def _tool(i: int, description: str = "A tool.") -> dict[str, Any]:
    properties = {f"arg{j}": {"type": "string", "maxLength": 20} for j in range(4)}
    parameters = {"type": "object", "properties": properties, "required": list(properties)}
    return {"type": "function", "function": {"name": f"tool_{i}", "description": description, "parameters": parameters}}


def _format(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}


HOSTILE: list[tuple[str, dict[str, Any], int, str | None]] = [
    ("schema-150-deep", {"response_format": _format(_nested(150))}, 400, "response_format"),
    (
        "schema-20000-wide",
        {
            "response_format": _format(
                {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(20_000)}}
            )
        },
        400,
        "response_format",
    ),  # fmt: skip
    (
        "enum-50000",
        {"response_format": _format({"enum": [f"value-{i}" for i in range(50_000)]})},
        400,
        "response_format",
    ),  # fmt: skip
    ("bad-ref", {"response_format": _format({"$ref": "#/$defs/nowhere"})}, 400, "response_format"),
    ("bad-pattern", {"response_format": _format({"type": "string", "pattern": "(unclosed"})}, 400, "response_format"),
    ("not-a-type", {"response_format": _format({"type": "banana"})}, 400, "response_format"),
    # llguidance 1.9.1 panics cutting its error message inside this character; a panic escapes `except Exception`
    (
        "panicking-schema",
        {"response_format": _format({"items": {"minLength": ["x" * 87 + "\U000ab134" * 3]}})},
        400,
        "response_format",
    ),  # fmt: skip
    ("tools-129", {"tools": [_tool(i) for i in range(129)]}, 400, "tools"),
    ("tool-name-spaces", {"tools": [{"type": "function", "function": {"name": "get weather"}}]}, 400, "tools"),
    ("tool-name-65", {"tools": [{"type": "function", "function": {"name": "f" * 65}}]}, 400, "tools"),
    ("tool-twice", {"tools": [_tool(1), _tool(1)]}, 400, "tools"),
    ("custom-tool", {"tools": [{"type": "custom", "custom": {"name": "f"}}]}, 400, "tools"),
    (
        "unknown-choice",
        {"tools": [_tool(1)], "tool_choice": {"type": "function", "function": {"name": "tool_2"}}},
        400,
        "tool_choice",
    ),  # fmt: skip
    ("tool-turn-without-id", {"messages": [*HI, {"role": "tool", "content": "42"}]}, 400, "messages"),
    (
        "calls-on-a-user-turn",
        {
            "messages": [
                {
                    "role": "user",
                    "content": "hi",
                    "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
                }
            ]
        },
        400,
        "messages",
    ),  # fmt: skip
    ("logit-bias-1025", {"logit_bias": {str(i): 1 for i in range(1025)}}, 400, "logit_bias"),
    ("logit-bias-not-a-token", {"logit_bias": {"hello": 1}}, 400, "logit_bias"),
    ("logit-bias-superscript", {"logit_bias": {"\u00b2": 1}}, 400, "logit_bias"),  # a digit to str.isdigit only
    ("logit-bias-200", {"logit_bias": {"5": 200}}, 400, "logit_bias"),
    ("top-logprobs-21", {"logprobs": True, "top_logprobs": 21}, 400, "top_logprobs"),
    (
        "image-part",
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
        400,
        "messages",
    ),  # fmt: skip
    ("tools-12", {"tools": [_tool(i) for i in range(12)], "tool_choice": "required"}, 200, None),  # as many as fit
    ("tools-128-over-the-window", {"tools": [_tool(i) for i in range(128)]}, 400, "messages"),
    (
        "hostile-description",
        {
            "tools": [_tool(1, 'Quotes " \\" braces {}} %json {"a": 1} start: x | y\n\x00 ' * 50)],
            "tool_choice": "required",
        },
        200,
        None,
    ),  # fmt: skip
    ("logit-bias-1024", {"logit_bias": {str(i): -1 for i in range(1024)}}, 200, None),
    ("pattern-100000", {"response_format": _format({"type": "string", "pattern": "^a{100000}$"})}, 200, None),
]


def test_a_schema_nested_past_the_parser_depth_is_refused(served: tuple[TestClient, str]) -> None:
    client, model = served
    depth = 5000  # built as text: json.dumps itself cannot nest this deep
    schema = '{"type": "object", "properties": {"a": ' * depth + '{"type": "string"}' + '}, "required": ["a"]}' * depth
    body = f'{{"model": "{model}", "messages": {json.dumps(HI)}, "response_format": {{"type": "json_schema", ' \
           f'"json_schema": {{"name": "x", "schema": {schema}}}}}}}'  # fmt: skip
    answer = client.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400, answer.text[:300]
    assert client.get("/ready").status_code == 200


@pytest.mark.parametrize(("body", "status", "param"), [case[1:] for case in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_hostile_formats_and_tools_are_refused_or_served_and_the_server_keeps_serving(
    served: tuple[TestClient, str], body: dict[str, Any], status: int, param: str | None
) -> None:
    """Each is refused with 400 naming the field, or served within the limits on a grammar's work (an answer whose
    grammar needs more ends as if out of tokens); other answers go on meanwhile."""
    client, model = served
    with ThreadPoolExecutor(2) as pool:
        other = pool.submit(client.post, "/v1/chat/completions",
                            json={"model": model, "messages": HI, "max_tokens": 8, "temperature": 0})  # fmt: skip
        answer = client.post("/v1/chat/completions", json={"model": model, "messages": HI, "max_tokens": 12, **body})
        assert answer.status_code == status, answer.text[:400]
        if param is not None:
            assert (answer.json()["error"]["param"] or "").startswith(param), answer.json()["error"]
        assert other.result().status_code == 200
    assert client.get("/ready").status_code == 200
