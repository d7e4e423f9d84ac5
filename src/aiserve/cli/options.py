"""Turning CLI flags into settings overrides: only the flags the user gave, so env and files still apply."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from aiserve.settings import Settings, load_settings

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (also $AISERVE_CONFIG_FILE).", show_default=False),
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option(envvar="AISERVE_API_KEY", help="API key for the server ($AISERVE_API_KEY).", show_default=False),
]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Where prepared models and data live.", show_default=False)
]


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
