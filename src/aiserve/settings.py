"""The one settings tree. The only module that reads the environment.

Precedence, highest first: keyword arguments (CLI flags), `AISERVE_*` environment variables, a `.env` file,
an optional TOML config file, then the defaults below. Nested groups use `__`, so
`AISERVE_ENGINE__MAX_BATCH_SIZE=64` sets `settings.engine.max_batch_size`.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "aiserve"


class _Group(BaseModel):
    """A settings group: unknown keys are errors, so a misspelt variable does not pass silently."""

    model_config = ConfigDict(extra="forbid")


class ServerSettings(_Group):
    """HTTP server settings."""

    host: str = "127.0.0.1"
    """Interface to bind; use 0.0.0.0 in containers."""
    port: int = Field(default=8000, ge=0, le=65535)
    """TCP port to listen on (0 picks a free one)."""
    max_connections: int = Field(default=1024, ge=1)
    """Open connections (and requests in flight) at most; past it, new ones get 503 at once."""
    header_timeout_s: float = Field(default=10.0, gt=0)
    """A request's headers must arrive within this (from the connection's start or the request's first byte);
    a connection that sends nothing is closed after it. Past it: 408."""
    body_timeout_s: float = Field(default=60.0, gt=0)
    """A request's body must arrive within this once its headers are in."""
    max_header_bytes: int = Field(default=32 * 1024, ge=1024)
    """Request line and headers together at most; past it: 431."""
    max_headers: int = Field(default=100, ge=1)
    """Headers per request at most; past it: 431."""
    max_body_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    """Largest request body accepted; larger bodies get 413."""
    request_timeout_s: float = Field(default=30.0, gt=0)
    """Deadline for one inference request, queueing included; past it the client gets 504."""
    graceful_shutdown_s: float = Field(default=20.0, ge=0)
    """How long a stopping server waits for in-flight requests to finish."""
    trusted_proxies: list[str] = Field(default_factory=list)
    """Addresses or CIDR ranges of reverse proxies (nginx, a load balancer) whose `X-Forwarded-For`, `X-Real-IP` and
    `X-Forwarded-Proto` are believed; from anyone else they are ignored. Empty: nobody's (e.g. `["127.0.0.1"]` for
    nginx on the same host, `["10.0.0.0/8"]` for a cluster network)."""

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            ipaddress.ip_network(entry.strip(), strict=False)  # ValueError names the bad entry
        return entries


class EngineSettings(_Group):
    """Dynamic batching and runtime settings, shared by every model unless a model overrides them."""

    max_batch_size: int = Field(default=32, ge=1, le=1024)
    """Most inputs run in one forward pass."""
    max_wait_ms: float = Field(default=2.0, ge=0)
    """How long a partly filled batch waits for more inputs before it runs."""
    max_queue_items: int = Field(default=4096, ge=1)
    """Most inputs waiting per model; beyond it requests get 503 with Retry-After at once."""
    max_queue_share: float = Field(default=0.5, gt=0, le=1)
    """The most of a model's queue (inputs, or chat requests) one API key may hold (without keys: one client
    address); past it that key gets 503 with Retry-After while the others are still served. Batches are filled from
    each key's requests in turn, so one key's flood cannot starve the others. 1: no bound."""
    threads: int = Field(default=0, ge=0)
    """Intra-op threads per model; 0 means one per CPU core."""
    model_nice: int = Field(default=10, ge=0, le=19)
    """How much lower the models' threads run than the event loop that answers HTTP (a Linux nice increment): they
    get every cycle the loop leaves, and under overload the loop still refuses (503) and streams at once. 0: the
    same priority."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where models run: `auto` picks CUDA when onnxruntime can use a GPU here, else the CPU."""


class EmbeddingSettings(_Group):
    """Settings for `/v1/embeddings`."""

    truncate: bool = True
    """Truncate inputs longer than the model's window (True) or reject them with 400 (False)."""
    max_inputs_per_request: int = Field(default=2048, ge=1)
    """Most strings in one request's `input` list."""


class ClassificationSettings(_Group):
    """Settings for `/v1/classify` and `/v1/inspect`."""

    max_image_pixels: int = Field(default=40_000_000, ge=1)
    """Largest image accepted, in pixels (width × height), checked before decoding; larger gets 413."""
    default_top_k: int = Field(default=5, ge=1, le=20)
    """Predictions returned when the request does not say."""


class RerankSettings(_Group):
    """Settings for `/v1/rerank` and `/rerank`."""

    max_documents: int = Field(default=1000, ge=1, le=100_000)
    """Most documents in one request (413 past it)."""


class CatalogModel(_Group):
    """A model of your own, added to the built-in catalogue (e.g. `[[models.catalog]]` in the TOML file)."""

    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
    """The model's name; several versions may share it."""
    version: str = Field(default="1", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    """Its version: `id@version` selects it; the bare id selects the default (first loaded) version."""
    task: Literal["embeddings", "classification", "chat", "rerank"]
    """What it does."""
    backend: Literal["onnx-classifier", "onnx-embedding", "llama-cpp", "onnx-cross-encoder"]
    """How it runs: `onnx-embedding` for embeddings, `onnx-classifier` for classification, `llama-cpp` for chat,
    `onnx-cross-encoder` for rerank."""
    files: dict[str, Path]
    """Files to gather into the model folder, by name: `model.onnx` and `labels.json` for a classifier, `model.onnx`
    and `tokenizer.json` for embeddings, `model.gguf` for a chat model (and `mmproj.gguf`, its projector, for a
    multimodal GGUF that sees images for itself), `model.onnx` and `tokenizer.json` for a cross-encoder."""
    aliases: list[str] = Field(default_factory=list)
    """Other names for this exact version."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Backend options, e.g. `image_size`, `resize`, `normalize` (`tf` or `imagenet`) for a classifier,
    `context_window` and `slots` for a chat model."""
    max_batch_size: int | None = Field(default=None, ge=1, le=1024)
    """This model's batch limit, instead of `engine.max_batch_size`."""
    device: Literal["auto", "cpu", "cuda"] | None = None
    """Where this model runs, instead of `engine.device`."""
    description: str = ""
    """One line for `aiserve models list`."""

    @model_validator(mode="after")
    def _runs_its_task(self) -> CatalogModel:
        if _BACKEND_TASK[self.backend] != self.task:
            raise ValueError(f"the backend '{self.backend}' runs {_BACKEND_TASK[self.backend]} models, not {self.task}")
        return self


_BACKEND_TASK = {"onnx-classifier": "classification", "onnx-embedding": "embeddings", "llama-cpp": "chat",
                 "onnx-cross-encoder": "rerank"}  # fmt: skip


class ChatImageSettings(_Group):
    """Images in chat (`image_url` parts, Responses `input_image` items, Messages `image` blocks)."""

    vision_model: str | None = "efficientnet-lite0"
    """The catalogue model (id, `id@version` or alias) that sees images for a chat model without vision: any image
    classifier, the ImageNet one by default or one trained with `aiserve train`. Its description of each image goes
    into the prompt, clearly marked. Unset: images are refused (400) by chat models without vision. A chat model
    that sees for itself (a GGUF with its projector, `mmproj.gguf`) is given the images instead."""
    max_per_request: int = Field(default=8, ge=0, le=64)
    """Images in one request at most (400 past it)."""
    max_bytes: int = Field(default=4 * 1024 * 1024, ge=1)
    """Largest image, decoded or fetched (413 past it)."""
    max_side: int = Field(default=2048, ge=64, le=8192)
    """An image given to a model that sees for itself is scaled down to fit this many pixels on its longer side
    first (its projector scales it again to its own size)."""
    fetch: bool = False
    """Fetch `http(s)://` image URLs. Off: only data URLs and base64 images are taken (400 naming the field)."""
    fetch_timeout_s: float = Field(default=5.0, gt=0, le=60)
    """Time to fetch one image, connecting included."""
    fetch_private: bool = False
    """Also fetch from private, loopback, link-local and other non-public addresses. Off, such URLs are refused
    whatever name they are given under, so a request cannot make the server probe its own network."""


class ResponsesSettings(_Group):
    """`/v1/responses`: responses kept for `previous_response_id` and `GET /v1/responses/{id}`."""

    ttl_s: int = Field(default=30 * 24 * 3600, ge=60)
    """How long a stored response is kept (30 days, as OpenAI keeps them)."""


class ChatSettings(_Group):
    """Settings for `/v1/chat/completions`, `/v1/completions`, `/v1/responses`, `/v1/messages` and `/v1/chat`."""

    default_max_tokens: int = Field(default=256, ge=1)
    """Tokens generated when the request does not say."""
    max_queue: int = Field(default=32, ge=1)
    """Requests waiting or running per chat model; beyond it 503 with Retry-After, before any tokenising."""
    slots: int = Field(default=0, ge=0, le=64)
    """Answers decoded together per chat model, one token each per forward pass; each holds its own key/value
    cache of the model's context window. 0 lets the runtime choose: 8, or 64 for transformers on a GPU."""
    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    """Largest body of a chat or completion request (413 past it, before it is read): room for a few photos as data
    URLs and far more text than any context window holds, yet half of `server.max_body_bytes`, so parsing a
    hostile conversation cannot hold the server."""
    max_messages: int = Field(default=1024, ge=1)
    """Messages in one conversation at most; more are refused (400) before any templating or tokenising."""
    max_chars_per_token: int = Field(default=16, ge=1)
    """A prompt longer than the model's context window times this many characters cannot fit and is refused (400)
    at once, before it reaches the model's thread (a token is rarely more than a few characters)."""
    images: ChatImageSettings = Field(default_factory=ChatImageSettings)
    """Images in chat: the vision model that sees them for a text-only chat model, limits, URL fetching."""
    responses: ResponsesSettings = Field(default_factory=ResponsesSettings)
    """Stored responses of `/v1/responses`."""


class ModelsSettings(_Group):
    """Which models this server loads."""

    enabled: list[str] = Field(
        default_factory=lambda: ["all-minilm-l6-v2", "efficientnet-lite0", "smollm2-135m-instruct", "minilm-rerank"]
    )
    """Model ids (or aliases) to load at start."""
    catalog: list[CatalogModel] = Field(default_factory=list)
    """Your own models, beside the built-in ones."""
    prepare_on_start: bool = True
    """Run `aiserve models prepare` for missing artefacts when the server starts."""
    dir: Path | None = None
    """Where prepared models live; unset: `<data_dir>/models`. The container image keeps them in the image
    (`/opt/aiserve/models`), apart from the `/data` volume."""
    embeddings: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    """Embedding endpoint settings."""
    classification: ClassificationSettings = Field(default_factory=ClassificationSettings)
    """Image classification settings."""
    chat: ChatSettings = Field(default_factory=ChatSettings)
    """Text generation settings."""
    rerank: RerankSettings = Field(default_factory=RerankSettings)
    """Rerank settings."""


class AuthSettings(_Group):
    """Who may call the API: every route needs an API key except the public ones."""

    enabled: bool = True
    """Require `Authorization: Bearer <key>` on every route not declared public (`/`, `/health`, `/ready`, `/metrics`
    and the API docs)."""
    bootstrap_key: SecretStr | None = None
    """The first admin key, made when the database holds no key (`sk-` and at least 24 more characters). Unset:
    one is generated, printed once and written to `<data_dir>/admin-key.txt`, readable by the owner only."""
    cache_s: float = Field(default=1.0, ge=0, le=60)
    """How long a server trusts a key it has checked; a revocation or expiry reaches every replica within it."""


class RateLimitSettings(_Group):
    """Per-key limits and quotas: the defaults here, overridden by the user's own, overridden by the key's own."""

    requests_per_minute: int | None = Field(default=None, ge=1, le=10**15)
    """Requests each key may make in any 60 s window (a sliding window, exact to the instant); unset: no limit.
    `5`: the 6th request within a minute gets 429."""
    tokens_per_minute: int | None = Field(default=None, ge=1, le=10**15)
    """Tokens each key may use in any 60 s window: prompt plus completion tokens, embedded tokens, and
    `tokens_per_image` for each classified image. A request is admitted while any are left and counted when done."""
    max_concurrent: int | None = Field(default=None, ge=1, le=10**15)
    """Requests each key may have in flight at once."""
    monthly_requests: int | None = Field(default=None, ge=1, le=10**15)
    """Requests each key may make in a calendar month (UTC); past it, 429 `insufficient_quota`."""
    monthly_tokens: int | None = Field(default=None, ge=1, le=10**15)
    """Tokens each key may use in a calendar month (UTC); past it, 429 `insufficient_quota`."""
    tokens_per_image: int = Field(default=85, ge=0)
    """What one classified image counts as in token limits and quotas."""
    lease_s: float = Field(default=600.0, gt=0)
    """The longest a request holds a concurrency slot: a replica that dies mid-request frees it after this."""
    exempt_admin: bool = False
    """Admin keys skip the limits."""
    ip_requests_per_minute: int | None = Field(default=None, ge=1, le=10**15)
    """Requests each client address may make in any 60 s window, with or without a key (public paths excepted):
    slows down key guessing and floods. The address is the real client's behind `server.trusted_proxies`."""
    backend: Literal["memory", "redis"] = "memory"
    """`memory`: one server's own count; `redis`: one count shared by every replica (needs `redis_url`)."""
    redis_url: SecretStr | None = None
    """e.g. `redis://redis:6379/0`."""
    fail_open: bool = True
    """When Redis cannot be reached: admit requests unlimited (true) or refuse them with 503 (false); logged as an
    error either way."""


class DatabaseSettings(_Group):
    """Where users, API keys and the usage ledger live."""

    url: SecretStr | None = None
    """SQLAlchemy URL, e.g. `postgresql://user:password@host/aiserve` or `sqlite:///path/aiserve.db` (the async
    drivers, asyncpg and aiosqlite, are chosen for you); unset: SQLite at `<data_dir>/aiserve.db` (WAL mode)."""
    migrate_on_start: bool = True

    @field_validator("url")
    @classmethod
    def _async_driver(cls, url: SecretStr | None) -> SecretStr | None:
        if url is None:
            return None
        text = url.get_secret_value()
        scheme, sep, rest = text.partition("://")
        if not sep:
            raise ValueError("expected a URL such as postgresql://user:password@host/aiserve or sqlite:///aiserve.db")
        drivers = {"postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}
        if scheme in drivers:
            return SecretStr(f"{drivers[scheme]}://{rest}")
        if scheme not in drivers.values():
            raise ValueError(f"unsupported database '{scheme}': use postgresql://… or sqlite:///…")
        return url

    """Apply pending migrations when the server starts (`aiserve db migrate` does it by hand)."""


class ObservabilitySettings(_Group):
    """Logging and metrics."""

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Lowest level written to the log."""
    log_format: Literal["auto", "json", "text"] = "auto"
    """One JSON object per line (for machines) or plain text (for people); `auto` picks text on a terminal."""
    access_log: bool = True
    """Write one line per request."""
    metrics_enabled: bool = True
    """Serve Prometheus metrics on /metrics."""


_PLACEHOLDER = re.compile(r"change[-_ ]?me|placeholder|example|replace[-_ ]?me|xxxx", re.IGNORECASE)
"""What the example files put where a secret goes."""


class Settings(BaseSettings):
    """Every setting of aiserve, built once at start and passed down explicitly."""

    model_config = SettingsConfigDict(
        env_prefix="AISERVE_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        validate_default=True,
    )

    env: Literal["dev", "prod"] = "dev"
    """Deployment environment; `prod` refuses placeholder secrets (`change-me` and the like) and authentication
    turned off."""
    data_dir: Path = Field(default_factory=_default_data_dir)
    """Where prepared models, the database and caches live."""
    server: ServerSettings = Field(default_factory=ServerSettings)
    """HTTP server settings."""
    engine: EngineSettings = Field(default_factory=EngineSettings)
    """Batching and runtime settings."""
    models: ModelsSettings = Field(default_factory=ModelsSettings)
    """Models to serve."""
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    """Logs and metrics."""
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    """Users, keys and usage storage."""
    auth: AuthSettings = Field(default_factory=AuthSettings)
    """API keys on every route."""
    ratelimit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    """Per-key rate limits."""

    @model_validator(mode="after")
    def _safe_in_prod(self) -> Settings:
        if self.env != "prod":
            return self
        if not self.auth.enabled:
            raise ValueError("env is 'prod' but auth.enabled is false: production keeps API keys on")
        secrets = {"auth.bootstrap_key": self.auth.bootstrap_key, "database.url": self.database.url,
                   "ratelimit.redis_url": self.ratelimit.redis_url}  # fmt: skip
        for name, secret in secrets.items():
            if secret is not None and _PLACEHOLDER.search(secret.get_secret_value()):
                raise ValueError(f"env is 'prod' but {name} still holds a placeholder: set a real secret")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls)
        return (init_settings, env_settings, dotenv_settings, toml, file_secret_settings)

    @property
    def models_dir(self) -> Path:
        """Folder holding prepared model artefacts."""
        return self.models.dir or self.data_dir / "models"

    def database_url(self) -> str:
        """The database URL in effect: the setting, or SQLite in the data directory."""
        if self.database.url is not None:
            return self.database.url.get_secret_value()
        return f"sqlite+aiosqlite:///{self.data_dir / 'aiserve.db'}"

    def cpu_threads(self) -> int:
        """Intra-op thread count to use: the setting, or one per CPU core."""
        return self.engine.threads or os.cpu_count() or 1


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from an optional TOML file, the environment and explicit overrides (CLI flags).

    `config_file` defaults to `$AISERVE_CONFIG_FILE` when set. Overrides use nested dicts for groups, e.g.
    `load_settings(server={"port": 9000})`; they merge with, rather than replace, the lower sources.
    """
    path = config_file or (Path(p) if (p := os.environ.get("AISERVE_CONFIG_FILE")) else None)
    cls: type[Settings] = Settings
    if path is not None:
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        config = SettingsConfigDict(**{**Settings.model_config, "toml_file": path})
        cls = type("Settings", (Settings,), {"model_config": config})
    base = cls()
    if not overrides:
        return base
    merged = _deep_merge(base.model_dump(), overrides)
    return Settings.model_validate(merged)


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
