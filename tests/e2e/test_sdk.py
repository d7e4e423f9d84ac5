"""`aiserve.client` against a real server, every call both sync and async: typed answers, streaming, images in
every form, admin calls, one exception class per failure, retries that honour `Retry-After`, and a server killed
in the middle of a stream."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import skimage
from PIL import Image
from pydantic import BaseModel, Field

from aiserve.bench.server import ServerProcess
from aiserve.client import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    Client,
    LengthFinishReasonError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from aiserve.protocol.chat import (
    ChatCompletion,
    ChatMessage,
    Completion,
    FunctionDefinition,
    NamedFunction,
    NamedToolChoice,
    ToolDefinition,
)
from aiserve.protocol.embeddings import EmbeddingResponse
from aiserve.protocol.keys import Limits
from aiserve.protocol.rerank import RerankResponse
from tests.services import free_port

pytestmark = pytest.mark.e2e

ADMIN = "sk-sdk-admin-" + "s" * 32
CHAT = "smollm2-135m-instruct"
EMBED = "all-minilm-l6-v2"
COFFEE = Path(skimage.__file__).parent / "data" / "coffee.png"
FRANCE = [
    {"role": "system", "content": "Answer in one short sentence."},
    {"role": "user", "content": "What is the capital of France?"},
]


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("sdk")
    (home / "models").symlink_to(data_dir / "models")
    with ServerProcess(["--data-dir", str(home)], api_key=ADMIN) as proc:
        yield proc


class Sdk:
    """Runs the same call through `Client` or `AsyncClient`."""

    def __init__(self, kind: str, url: str, key: str = ADMIN, **options: Any) -> None:
        self.kind, self.url, self.key, self.options = kind, url, key, {"max_retries": 0, **options}

    def with_key(self, key: str, **options: Any) -> Sdk:
        return Sdk(self.kind, self.url, key, **{**self.options, **options})

    def __call__(self, call: Callable[[Any], Any]) -> Any:
        if self.kind == "sync":
            with Client(base_url=self.url, api_key=self.key, **self.options) as client:
                return call(client)

        async def main() -> Any:
            async with AsyncClient(base_url=self.url, api_key=self.key, **self.options) as client:
                return await call(client)

        return asyncio.run(main())

    def stream(self, call: Callable[[Any], Any]) -> list[Any]:
        if self.kind == "sync":
            with Client(base_url=self.url, api_key=self.key, **self.options) as client:
                return list(call(client))

        async def main() -> list[Any]:
            async with AsyncClient(base_url=self.url, api_key=self.key, **self.options) as client:
                return [chunk async for chunk in await call(client)]

        return asyncio.run(main())


@pytest.fixture(params=["sync", "async"])
def sdk(request: pytest.FixtureRequest, server: ServerProcess) -> Sdk:
    return Sdk(request.param, server.url)


def new_key(sdk: Sdk, user: str, **limits: int) -> str:
    sdk(lambda c: c.users.create(f"{user}-{sdk.kind}"))
    made = sdk(lambda c: c.keys.create(f"{user}-{sdk.kind}", limits=Limits(**limits)))
    assert made.key.startswith("sk-")
    return str(made.key)


def test_embeddings_float_and_base64(sdk: Sdk) -> None:
    floats = sdk(lambda c: c.embeddings.create(["a cat", "a dog"], model=EMBED))
    assert isinstance(floats, EmbeddingResponse)
    assert [len(item.embedding) for item in floats.data] == [384, 384]
    packed = sdk(lambda c: c.embeddings.create("a cat", model=EMBED, encoding_format="base64"))
    assert isinstance(packed.data[0].embedding, str)
    assert packed.usage.prompt_tokens == 4


def test_rerank_orders_documents_best_first(sdk: Sdk) -> None:
    documents = ["A cat purrs on the sofa.", "The dog barks at the postman every morning.", "Fish swim in the pond."]
    answer = sdk(lambda c: c.rerank("Which animal barks?", documents, top_n=2))
    assert isinstance(answer, RerankResponse)
    assert [r.index for r in answer.results][0] == 1
    assert len(answer.results) == 2
    assert answer.results[0].document is not None
    assert answer.results[0].document.text == documents[1]
    bare = sdk(lambda c: c.rerank("Which animal barks?", documents, model="minilm-rerank", return_documents=False))
    assert [r.document for r in bare.results] == [None, None, None]


def test_chat_whole_and_streamed_agree(sdk: Sdk) -> None:
    whole = sdk(lambda c: c.chat.completions.create(messages=FRANCE, model=CHAT, max_tokens=12, temperature=0))
    assert isinstance(whole, ChatCompletion)
    assert "Paris" in (whole.choices[0].message.content or "")
    chunks = sdk.stream(lambda c: c.chat.completions.create(messages=FRANCE, model=CHAT, max_tokens=12,
                                                            temperature=0, stream=True,
                                                            stream_options={"include_usage": True}))  # fmt: skip
    text = "".join(choice.delta.content or "" for chunk in chunks for choice in chunk.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


class Capital(BaseModel):
    """What `parse` reads an answer into."""

    country: str = Field(max_length=30)
    capital: str = Field(max_length=30)


def test_parse_reads_a_pydantic_model_and_tools_go_as_protocol_types(sdk: Sdk) -> None:
    ask = [{"role": "user", "content": "What is the capital of France?"}]
    found = sdk(lambda c: c.chat.completions.parse(messages=ask, model=CHAT, response_format=Capital, temperature=0,
                                                   max_tokens=60))  # fmt: skip
    assert isinstance(found, Capital)
    with pytest.raises(LengthFinishReasonError):
        sdk(lambda c: c.chat.completions.parse(messages=ask, model=CHAT, response_format=Capital, max_tokens=3))
    country = {"country": {"type": "string", "maxLength": 30}}
    parameters = {"type": "object", "properties": country, "required": ["country"], "additionalProperties": False}
    lookup = ToolDefinition(type="function", function=FunctionDefinition(name="find_capital", parameters=parameters))
    choice = NamedToolChoice(type="function", function=NamedFunction(name="find_capital"))
    called = sdk(lambda c: c.chat.completions.create(messages=ask, model=CHAT, tools=[lookup], tool_choice=choice,
                                                     temperature=0, max_tokens=60))  # fmt: skip
    calls = called.choices[0].message.tool_calls
    assert called.choices[0].finish_reason == "tool_calls"
    assert calls[0].function.name == "find_capital"
    assert isinstance(json.loads(calls[0].function.arguments)["country"], str)
    history = [*ask, called.choices[0].message, ChatMessage(role="tool", tool_call_id=calls[0].id, content="Paris")]
    final = sdk(lambda c: c.chat.completions.create(messages=history, model=CHAT, temperature=0, max_tokens=20))
    assert final.choices[0].message.content


def test_text_completions_whole_and_streamed_agree(sdk: Sdk) -> None:
    whole = sdk(lambda c: c.completions.create(prompt="One, two, three,", model=CHAT, max_tokens=8, temperature=0))
    assert isinstance(whole, Completion)
    assert whole.choices[0].text
    chunks = sdk.stream(lambda c: c.completions.create(prompt="One, two, three,", model=CHAT, max_tokens=8,
                                                       temperature=0, stream=True))  # fmt: skip
    assert "".join(chunk.choices[0].text for chunk in chunks if chunk.choices) == whole.choices[0].text


def test_images_from_a_path_bytes_a_file_and_a_pil_image(sdk: Sdk) -> None:
    with COFFEE.open("rb") as handle:
        forms: list[Any] = [COFFEE, str(COFFEE), COFFEE.read_bytes(), handle, Image.open(COFFEE)]

        def top(form: Any) -> str:
            return str(sdk(lambda c: c.images.classify(form, top_k=3)).predictions[0].label)

        labels = [top(form) for form in forms]
    assert labels == ["espresso"] * 5


def test_models_and_usage(sdk: Sdk) -> None:
    listed = sdk(lambda c: c.models.list())
    assert {card.id for card in listed.data} == {EMBED, "efficientnet-lite0", CHAT, "minilm-rerank"}
    assert sdk(lambda c: c.models.retrieve(EMBED)).task == "embeddings"
    with pytest.raises(NotFoundError) as missing:
        sdk(lambda c: c.models.retrieve("no-such-model"))
    assert missing.value.status_code == 404
    assert missing.value.request_id
    sdk(lambda c: c.embeddings.create("counted", model=EMBED))
    deadline = time.monotonic() + 10
    while (report := sdk(lambda c: c.usage.get())).total_requests == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert report.user == "admin"
    assert report.total_requests >= 1


def test_admin_users_and_keys(sdk: Sdk) -> None:
    user = f"team-{sdk.kind}"
    made_user = sdk(lambda c: c.users.create(user, limits=Limits(requests_per_minute=50)))
    assert made_user.limits.requests_per_minute == 50
    assert user in [u.name for u in sdk(lambda c: c.users.list()).data]
    assert sdk(lambda c: c.users.set_limits(user, Limits(tokens_per_minute=900))).limits.tokens_per_minute == 900
    key = sdk(lambda c: c.keys.create(user, name="ci", scopes=["inference"]))
    assert [k.prefix for k in sdk(lambda c: c.keys.list(user=user)).data] == [key.prefix]
    limited = sdk(lambda c: c.keys.set_limits(key.prefix, Limits(max_concurrent=2)))
    assert limited.limits.max_concurrent == 2
    assert sdk.with_key(key.key)(lambda c: c.models.list()).data
    assert sdk(lambda c: c.keys.revoke(key.prefix)).revoked_at is not None
    time.sleep(1.2)  # every server trusts a checked key for at most auth.cache_s (1 s)
    with pytest.raises(AuthenticationError):
        sdk.with_key(key.key)(lambda c: c.models.list())


def test_each_failure_has_its_class(sdk: Sdk) -> None:
    with pytest.raises(AuthenticationError) as unknown:
        sdk.with_key("sk-" + "x" * 40)(lambda c: c.models.list())
    assert unknown.value.status_code == 401
    assert unknown.value.message == "Invalid API key"
    user_key = new_key(sdk, "plain", requests_per_minute=1)
    with pytest.raises(PermissionDeniedError):
        sdk.with_key(user_key)(lambda c: c.keys.list())
    assert sdk.with_key(user_key)(lambda c: c.models.list()).data  # listing models is not counted
    assert sdk.with_key(user_key)(lambda c: c.images.classify(COFFEE)).predictions  # its one request this minute
    with pytest.raises(RateLimitError) as limited:
        sdk.with_key(user_key)(lambda c: c.images.classify(COFFEE))
    assert limited.value.code == "rate_limit_exceeded"
    assert limited.value.retry_after is not None
    assert 0 < limited.value.retry_after <= 60
    with pytest.raises(BadRequestError) as bad:
        sdk(lambda c: c.images.classify(b"\x89PNG\r\n\x1a\n not really"))
    assert bad.value.status_code == 400
    assert "Invalid image" in bad.value.message
    with pytest.raises(BadRequestError) as invalid:
        sdk(lambda c: c.images.classify(COFFEE, top_k=100))
    assert invalid.value.status_code == 422
    with pytest.raises(APIConnectionError):
        Sdk(sdk.kind, f"http://127.0.0.1:{free_port()}")(lambda c: c.models.list())
    with pytest.raises(APITimeoutError):  # 5 ms: less than any answer takes, even one that stops at once
        sdk.with_key(ADMIN, timeout=0.005)(
            lambda c: c.chat.completions.create(messages=FRANCE, model=CHAT, max_tokens=200, temperature=0)
        )


def test_a_short_retry_after_is_waited_out(server: ServerProcess) -> None:
    # one request at a time for this key: a second one gets 429 with Retry-After 1 while the first holds the slot
    sdk = Sdk("sync", server.url)
    key = new_key(sdk, "serial", max_concurrent=1)
    holder = Client(base_url=server.url, api_key=key, max_retries=0)
    stream = holder.chat.completions.create(messages=FRANCE, model=CHAT, max_tokens=300, stream=True)
    chunks = iter(stream)
    next(chunks)
    answers: list[Any] = []

    def patient() -> None:
        with Client(base_url=server.url, api_key=key, max_retries=5) as client:
            answers.append(client.embeddings.create("hi", model=EMBED))

    waiting = threading.Thread(target=patient)
    waiting.start()
    deadline = time.monotonic() + 20  # the refusal is in the ledger: then let the slot go
    while sdk(lambda c: c.usage.get(key=key[3:11])).total_requests < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    chunks.close()  # type: ignore[attr-defined]
    holder.close()
    waiting.join(30)
    assert answers
    assert len(answers[0].data[0].embedding) == 384
    report = sdk(lambda c: c.usage.get(key=key[3:11]))
    assert report.total_requests - report.successful_requests >= 1  # it was refused before it got through


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_server_killed_mid_stream_raises_instead_of_hanging(data_dir: Path, kind: str) -> None:
    with ServerProcess(["--data-dir", str(data_dir), "--model", CHAT, "--log-level", "warning"]) as doomed:
        story = [{"role": "user", "content": "Write a very long story about a dragon who learns to cook."}]

        def kill_after_first_chunk(chunks: Any) -> Any:
            assert doomed.process is not None
            doomed.process.send_signal(signal.SIGKILL)
            return chunks

        if kind == "sync":
            with Client(base_url=doomed.url, max_retries=0) as client:
                chunks = client.chat.completions.create(messages=story, model=CHAT, max_tokens=1500, stream=True)
                iterator = iter(chunks)
                next(iterator)
                kill_after_first_chunk(chunks)
                with pytest.raises(APIConnectionError):
                    for _ in iterator:
                        pass
            return

        async def main() -> None:
            async with AsyncClient(base_url=doomed.url, max_retries=0) as client:
                chunks = await client.chat.completions.create(messages=story, model=CHAT, max_tokens=1500,
                                                              stream=True)  # fmt: skip
                iterator = aiter(chunks)
                await anext(iterator)
                kill_after_first_chunk(chunks)
                with pytest.raises(APIConnectionError):
                    async for _ in iterator:
                        pass

        asyncio.run(asyncio.wait_for(main(), 60))


def test_an_admin_points_an_alias_and_drops_it(sdk: Sdk) -> None:
    alias = f"sdk-{sdk.kind}-embedder"
    try:
        moved = sdk(lambda c: c.models.alias(alias, EMBED))
        assert (moved.alias, moved.model) == (alias, f"{EMBED}@1")
        assert moved.card is not None
        assert alias in moved.card.aliases
        assert sdk(lambda c: c.embeddings.create("hi", model=alias)).model == EMBED
        assert (alias, f"{EMBED}@1") in [(a.alias, a.model) for a in sdk(lambda c: c.models.aliases()).data]
    finally:  # the models folder (and so the alias book) is the session's
        assert sdk(lambda c: c.models.unalias(alias)).model == f"{EMBED}@1"
    with pytest.raises(NotFoundError):
        sdk(lambda c: c.models.unalias(alias))
    with pytest.raises(BadRequestError):
        sdk(lambda c: c.models.alias("a@b", EMBED))


def test_an_admin_unloads_and_loads_a_model(sdk: Sdk) -> None:
    # last in this module: the classifier is away for a moment
    unloaded = sdk(lambda c: c.models.unload("efficientnet-lite0"))
    assert unloaded.status == "unloaded"
    with pytest.raises(NotFoundError):
        sdk(lambda c: c.images.classify(COFFEE))
    loaded = sdk.with_key(ADMIN, timeout=300)(lambda c: c.models.load("efficientnet-lite0"))
    assert loaded.status == "ready"
    assert sdk(lambda c: c.images.classify(COFFEE)).predictions[0].label == "espresso"
    since = sdk(lambda c: c.usage.get(start=datetime.now(UTC) + timedelta(hours=1)))
    assert since.total_requests == 0  # nothing has happened in the future
