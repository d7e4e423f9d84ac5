"""The options more than one command takes, each declared once (its flag, help and checks), and turning CLI flags into
settings overrides: only the flags the user gave, so env and files still apply."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aiserve.settings import Settings, load_settings

if TYPE_CHECKING:
    from aiserve.protocol.keys import Limits

# --- where settings, models and data come from ------------------------------------------------------------------------

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (also $AISERVE_CONFIG_FILE).", show_default=False),
]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Where prepared models and data live.", show_default=False)
]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto (CUDA when present), cpu or cuda.")]

# --- a running server -------------------------------------------------------------------------------------------------

ApiKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key", envvar="AISERVE_API_KEY", help="API key for the server ($AISERVE_API_KEY).", show_default=False
    ),
]
ServerUrlOpt = Annotated[
    str | None,
    typer.Option("--url", help="Server URL (default: $AISERVE_BASE_URL or the settings).", show_default=False),
]
"""The server a command talks to (`aiserve chat`, `models load`...)."""
AdminUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url", help="A running server's URL: work over its admin API (needs an admin key).", show_default=False
    ),
]
"""For `aiserve users|keys`: given, they work over this server's admin API instead of in the database."""

# --- output -----------------------------------------------------------------------------------------------------------

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file instead of printing.", show_default=False)
]

# --- `aiserve bench` --------------------------------------------------------------------------------------------------

BenchUrlOpt = Annotated[
    str | None, typer.Option("--url", help="Bench a running server instead of starting one.", show_default=False)
]
ClientCountsOpt = Annotated[str, typer.Option("--concurrency", help="Comma-separated client counts.")]
DurationOpt = Annotated[float, typer.Option("--duration", help="Seconds measured per level.")]
WarmupOpt = Annotated[float, typer.Option("--warmup", help="Unmeasured seconds before each level.")]

# --- limits of a user or a key (`aiserve users|keys create|limits`); 0 clears one -------------------------------------

RpmOpt = Annotated[int | None, typer.Option("--rpm", help="Requests per minute (0 clears).", min=0)]
TpmOpt = Annotated[int | None, typer.Option("--tpm", help="Tokens per minute (0 clears).", min=0)]
ConcurrentOpt = Annotated[int | None, typer.Option("--concurrent", help="Requests in flight (0 clears).", min=0)]
MonthlyRequestsOpt = Annotated[
    int | None, typer.Option("--monthly-requests", help="Requests per calendar month (0 clears).", min=0)
]
MonthlyTokensOpt = Annotated[
    int | None, typer.Option("--monthly-tokens", help="Tokens per calendar month (0 clears).", min=0)
]


def limits_from(*, rpm: int | None, tpm: int | None, concurrent: int | None, monthly_requests: int | None,
                monthly_tokens: int | None) -> Limits:  # fmt: skip
    """The limits the flags name; a flag left out is left out, and 0 clears one (it falls back to the user's, then
    the server's)."""
    from aiserve.protocol.keys import Limits

    given = {"requests_per_minute": rpm, "tokens_per_minute": tpm, "max_concurrent": concurrent,
             "monthly_requests": monthly_requests, "monthly_tokens": monthly_tokens}  # fmt: skip
    return Limits(**{name: value or None for name, value in given.items() if value is not None})


# --- flags to settings ------------------------------------------------------------------------------------------------


def overrides(**flags: Any) -> dict[str, Any]:
    """Nested overrides from `group__field=value` flags, skipping the ones left unset (None)."""
    out: dict[str, Any] = {}
    for key, value in flags.items():
        if value is None:
            continue
        *groups, field = key.split("__")
        node = out
        for group in groups:
            node = node.setdefault(group, {})
        node[field] = value
    return out


def settings_from(config: Path | None, **flags: Any) -> Settings:
    """Settings with the given flags on top of file, env and defaults."""
    return load_settings(config, **overrides(**flags))
