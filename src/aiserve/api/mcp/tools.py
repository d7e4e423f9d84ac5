"""The MCP tools and resource. Each tool calls the service its HTTP route calls, with the HTTP request's record as
its meter, so the model, tokens, images and timings it reports reach the limiter, the ledger and the metrics as a
route's do. A domain error answers as a tool result with `isError` and the message the route would answer with
(never as a protocol error), and the status that route would have answered is kept for the ledger.

`classify_image` takes the image itself (base64 or a data URL); `path` names a file on the machine of the
`aiserve mcp` process, which reads it and sends the image (the server never opens a client's path)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi.encoders import jsonable_encoder
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.types import Scope

from aiserve import __version__
from aiserve.api.deps import Services
from aiserve.api.errors import from_validation, status_and_type
from aiserve.api.policy import Metering, RoutePolicy
from aiserve.api.record import RequestRecord, record_of
from aiserve.api.routes.models import card
from aiserve.errors import AiserveError, InvalidInput
from aiserve.protocol.chat import ChatCompletionRequest, ChatMessage
from aiserve.protocol.classify import ClassifyOptions, ClassifyResponse
from aiserve.protocol.embeddings import EmbeddingRequest
from aiserve.protocol.models import ModelList
from aiserve.protocol.rerank import RerankRequest, RerankResult

T = TypeVar("T")

TOOL_POLICIES: dict[str, RoutePolicy] = {
    "classify_image": RoutePolicy("inference", Metering.IMAGES),
    "embed": RoutePolicy("inference", Metering.TOKENS),
    "chat": RoutePolicy("inference", Metering.TOKENS, prompt=True),
    "rerank": RoutePolicy("inference", Metering.TOKENS),
}
"""Each tool's policy, as its HTTP route declares it: a call is one request, counted by what it used."""

MODELS_URI = "aiserve://models"

_STATUS = "aiserve.mcp.status"
"""Where a tool call leaves, in its HTTP request's scope, the status its route would have answered with."""


def tool_status(scope: Scope) -> int | None:
    """The status the tool call of this HTTP request answered with, as its route would have; None when no tool ran
    (the SDK refused the call's arguments, or the message called no tool)."""
    status: int | None = scope.get(_STATUS)
    return status


# --- what the tools answer --------------------------------------------------------------------------------------------


class Embeddings(BaseModel):
    """One vector per text, in the texts' order."""

    model: str
    """The model that made them."""
    embeddings: list[list[float]]
    """The vectors."""
    tokens: int
    """Tokens the model read."""


class ChatTurn(BaseModel):
    """One message of a conversation."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str


class ChatAnswer(BaseModel):
    """The model's answer."""

    model: str
    """The model that answered."""
    text: str
    """The answer."""
    finish_reason: str
    """`stop` (the answer ended) or `length` (it ran out of tokens: raise `max_tokens`)."""
    input_tokens: int
    output_tokens: int


class Ranking(BaseModel):
    """The documents best first."""

    model: str
    """The model that ranked them."""
    results: list[RerankResult]
    """Each document's index in the request, relevance (0 to 1) and text, best first."""


# --- the tools --------------------------------------------------------------------------------------------------------

Model = Annotated[
    str | None, Field(max_length=256, description="Model id or alias; the server's default when left out.")
]
ImageText = Annotated[str | None, Field(description="The image: base64, or a data URL (data:image/png;base64,...).")]
ImagePath = Annotated[str | None, Field(max_length=4096, description="Instead of `image`: a JPEG, PNG, GIF, WebP or "
                                        "BMP file on the machine running `aiserve mcp` (on stdio only).")]  # fmt: skip
TopK = Annotated[int | None, Field(ge=1, le=20, description="How many classes (default 5).")]
Texts = Annotated[list[str], Field(min_length=1, description="The texts to embed.")]
Prompt = Annotated[str | None, Field(description="A question or instruction (or give `messages`).")]
Turns = Annotated[
    list[ChatTurn] | None,
    Field(min_length=1, max_length=4096, description="A conversation, oldest first (instead of `prompt`)."),
]
MaxTokens = Annotated[int | None, Field(ge=1, description="Most tokens in the answer (default 256).")]
Temperature = Annotated[float | None, Field(ge=0, le=2, description="0 answers the same way every time.")]
Query = Annotated[str, Field(min_length=1, description="What the documents are ranked against.")]
Documents = Annotated[list[str], Field(min_length=1, description="The documents to rank.")]
TopN = Annotated[int | None, Field(ge=1, description="Return only the best `top_n` (default: all).")]


class _Tools:
    """The tools over the app's services."""

    def __init__(self, services: Services) -> None:
        self._services = services

    async def classify_image(
        self, ctx: Context, image: ImageText = None, path: ImagePath = None, model: Model = None, top_k: TopK = None
    ) -> ClassifyResponse:
        """What is in an image: the image classifier's best classes (ImageNet's 1000 by default), most likely first,
        with their probabilities."""

        async def work(record: RequestRecord) -> ClassifyResponse:
            if path is not None:
                raise InvalidInput("`path` is read by `aiserve mcp` on its own machine (stdio); over HTTP, send the "
                                   "image itself, base64, in `image`.", param="path")  # fmt: skip
            if image is None:
                raise InvalidInput("Send the image in `image` (base64 or a data URL).", param="image")
            options = ClassifyOptions(model=model, top_k=top_k)
            return await self._services.classify.classify(image, options, record)

        return await _served(ctx, work)

    async def embed(self, ctx: Context, texts: Texts, model: Model = None) -> Embeddings:
        """Sentence embeddings: one vector per text (384 numbers for all-MiniLM-L6-v2), for semantic search,
        clustering and similarity (cosine)."""

        async def work(record: RequestRecord) -> Embeddings:
            name = model or self._services.registry.default_for("embeddings").name
            answer = await self._services.embeddings.create(EmbeddingRequest(model=name, input=texts), record)
            vectors = [_floats(item.embedding) for item in answer.data]
            return Embeddings(model=answer.model, embeddings=vectors, tokens=answer.usage.prompt_tokens)

        return await _served(ctx, work)

    async def chat(
        self,
        ctx: Context,
        prompt: Prompt = None,
        messages: Turns = None,
        max_tokens: MaxTokens = None,
        temperature: Temperature = None,
        model: Model = None,
    ) -> ChatAnswer:
        """Ask the server's chat model (a small language model): a `prompt`, or a conversation in `messages`."""

        async def work(record: RequestRecord) -> ChatAnswer:
            if (prompt is None) == (messages is None):
                raise InvalidInput("Give either `prompt` or `messages`.", param="prompt")
            turns = [ChatTurn(role="user", content=prompt)] if prompt is not None else messages or []
            sampling: dict[str, Any] = {} if temperature is None else {"temperature": temperature}
            request = ChatCompletionRequest(
                model=model or self._services.registry.default_for("chat").name,
                messages=[ChatMessage(role=turn.role, content=turn.content) for turn in turns],
                max_tokens=max_tokens,
                **sampling,
            )
            answer = await self._services.chat.complete_chat(request, record)
            choice = answer.choices[0]
            return ChatAnswer(model=answer.model, text=choice.message.content or "",
                              finish_reason=choice.finish_reason or "stop", input_tokens=answer.usage.prompt_tokens,
                              output_tokens=answer.usage.completion_tokens)  # fmt: skip

        return await _served(ctx, work)

    async def rerank(
        self, ctx: Context, query: Query, documents: Documents, top_n: TopN = None, model: Model = None
    ) -> Ranking:
        """Order documents by how relevant each is to a query, best first, with a relevance score from 0 to 1."""

        async def work(record: RequestRecord) -> Ranking:
            request = RerankRequest(model=model, query=query, documents=list(documents), top_n=top_n)
            answer = await self._services.rerank.rerank(request, record)
            return Ranking(model=answer.model, results=answer.results)

        return await _served(ctx, work)

    def models(self) -> str:
        """Every model this server knows, with its task, state and aliases, as `GET /v1/models` lists them."""
        registry = self._services.registry
        return ModelList(data=[card(entry, registry) for entry in registry.entries()]).model_dump_json()


def build_server(services: Services) -> MCPServer:
    """The MCP server: the tools and the models resource."""
    tools = _Tools(services)
    root = logging.getLogger()
    guard = logging.NullHandler()
    root.addHandler(guard)  # MCPServer() calls logging.basicConfig, a no-op while the root logger has a handler:
    try:  # aiserve configures its own logging, and a second handler would print every line twice
        server: MCPServer = MCPServer(
            "aiserve",
            version=__version__,
            instructions="Models served by aiserve on its own hardware: classify images, embed texts, rerank "
            "documents and chat with a small language model. The models resource lists what is loaded.",
        )
    finally:
        root.removeHandler(guard)
    reads = ToolAnnotations(read_only_hint=True, open_world_hint=False)  # they change nothing and reach nothing
    for tool in (tools.classify_image, tools.embed, tools.chat, tools.rerank):
        server.add_tool(tool, annotations=reads)
    server.resource(MODELS_URI, name="models", title="Models", mime_type="application/json")(tools.models)
    return server


async def _served(ctx: Context, work: Callable[[RequestRecord], Awaitable[T]]) -> T:
    """Run a tool's work with its HTTP request's record as the meter; a domain error becomes the tool's error, with
    the status its route would have answered kept for the ledger."""
    request = ctx.request_context.request
    if request is None:  # these tools are served over HTTP only: `aiserve mcp` relays stdio to it
        raise ToolError("aiserve serves its tools over HTTP (/mcp).")
    scope: Scope = request.scope
    try:
        done = await work(record_of(scope))
    except AiserveError as exc:
        scope[_STATUS] = status_and_type(exc)[0]
        raise ToolError(exc.message) from None
    except ValidationError as exc:  # a request the tool built from valid arguments that the protocol still refuses
        refused = from_validation(jsonable_encoder(exc.errors(include_url=False, include_input=False)))
        scope[_STATUS] = status_and_type(refused)[0]
        raise ToolError(refused.message) from None
    except Exception:
        scope[_STATUS] = 500  # a bug: the SDK logs it and answers without its details
        raise
    scope[_STATUS] = 200
    return done


def _floats(vector: Any) -> list[float]:
    """A vector as plain floats (the embedding service hands over numpy arrays, for the HTTP route to write)."""
    values: list[float] = vector.tolist() if hasattr(vector, "tolist") else [float(v) for v in vector]
    return values
