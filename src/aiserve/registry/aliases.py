"""Movable aliases: names an admin points at one model version and moves later, so clients keep their `model`
name while the version behind it changes. Kept in the data directory's `aliases.json` as `{"alias": "id@version"}`."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Protocol

from aiserve.errors import InvalidInput, NotFound

MAX_LENGTH = 256
"""The longest alias, as long as any model name a request may carry."""


def check_alias(alias: str) -> None:
    """Refuse a name that cannot be an alias: empty, too long, with control characters or surrounding spaces, or
    with `@` or `/` (`id@version` names one version for good, and `/` would split the admin API's path)."""
    if not alias.strip():
        raise InvalidInput("An alias cannot be empty.", param="alias")
    if len(alias) > MAX_LENGTH:
        raise InvalidInput(f"An alias is at most {MAX_LENGTH} characters.", param="alias")
    if not alias.isprintable() or alias != alias.strip():
        raise InvalidInput(
            "An alias cannot hold control characters (newlines, tabs, escapes) or start or end with a space.",
            param="alias",
        )
    if "@" in alias or "/" in alias:
        raise InvalidInput(
            f"The alias '{alias}' contains '@' or '/': `id@version` names select one version for good, so an "
            "alias cannot look like one.",
            param="alias",
        )


class SharedAliases(Protocol):
    """Where replicas share their aliases (the database), beside each one's own book."""

    async def fetch(self) -> dict[str, str]:
        """Every alias and the `id@version` it points at."""
        ...

    async def put(self, alias: str, target: str) -> None:
        """Point `alias` at `target`."""
        ...

    async def drop(self, alias: str) -> None:
        """Forget `alias`."""
        ...


class AliasBook:
    """The movable aliases and the file they are kept in. Names compare case-insensitively and keep the
    spelling they were set with; every change is written to the file before it takes effect."""

    def __init__(self, path: Path) -> None:
        """Read the book at `path`; a missing file is an empty book, an unreadable one a `ValueError`."""
        self.path = path
        self._targets = _read(path)

    def get(self, alias: str) -> str | None:
        """The `id@version` that `alias` points at, or `None` if it is not in the book."""
        found = self._find(alias)
        return None if found is None else self._targets[found]

    def items(self) -> list[tuple[str, str]]:
        """Every `(alias, id@version)`, in alias order."""
        return sorted(self._targets.items(), key=lambda item: item[0].lower())

    def aliases_of(self, target: str) -> list[str]:
        """The aliases that point at `target` (`id@version`), in alias order."""
        return [alias for alias, key in self.items() if key.lower() == target.lower()]

    def set(self, alias: str, target: str) -> None:
        """Point `alias` at `target` (`id@version`) and write the book; `InvalidInput` for a bad name."""
        check_alias(alias)
        targets = dict(self._targets)
        found = self._find(alias)
        if found is not None:
            del targets[found]
        targets[alias] = target
        self._save(targets)

    def remove(self, alias: str) -> str:
        """Drop `alias` and write the book; answers the `id@version` it pointed at, `NotFound` if unknown."""
        found = self._find(alias)
        if found is None:
            raise NotFound(f"There is no alias '{alias}'.", param="alias")
        targets = dict(self._targets)
        target = targets.pop(found)
        self._save(targets)
        return target

    def targets(self) -> dict[str, str]:
        """Every alias and its `id@version`, as a new dict."""
        return dict(self._targets)

    def replace(self, targets: dict[str, str]) -> None:
        """Take `targets` whole (another replica moved an alias) and write the book."""
        if targets != self._targets:
            self._save(dict(targets))

    def _find(self, alias: str) -> str | None:
        wanted = alias.lower()
        return next((name for name in self._targets if name.lower() == wanted), None)

    def _save(self, targets: dict[str, str]) -> None:
        _write(self.path, targets)
        self._targets = targets


def _read(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValueError(f'{path} should map each alias to "id@version", e.g. {{"digits": "digits@2"}}.')
    return data


def _write(path: Path, targets: dict[str, str]) -> None:
    """Write the whole file under a temporary name, then rename it over the old one: a reader or a crash sees
    the old book or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(dict(sorted(targets.items(), key=lambda item: item[0].lower())), indent=2) + "\n"
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
