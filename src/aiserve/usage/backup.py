"""Backups of the SQLite database, taken and restored with SQLite's online backup (safe while the server runs:
readers and the writer go on, and the copy is consistent). PostgreSQL has its own tools (`pg_dump`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from aiserve.errors import AiserveError

_TABLES = {"users", "api_keys", "usage_events", "alembic_version"}


def sqlite_path(url: str) -> Path:
    """The file behind a SQLite URL; a clear error for any other database."""
    prefix = "sqlite+aiosqlite:///"
    if not url.startswith(prefix):
        raise AiserveError("backups here are for SQLite; back PostgreSQL up with pg_dump (and restore with psql)")
    return Path(url.removeprefix(prefix))


def backup(database: Path, target: Path) -> int:
    """Copy the live database to `target` (a new file); the number of usage events it holds."""
    if not database.is_file():
        raise AiserveError(f"no database at {database}")
    if target.exists():
        raise AiserveError(f"{target} exists already; choose a new file")
    with sqlite3.connect(database) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    return _check(target)


def restore(source: Path, database: Path) -> int:
    """Replace the database's content with a backup's, after checking the backup is whole and ours; the number of
    usage events restored. Stop the server first: a running one would keep its cached keys and limits."""
    count = _check(source)
    database.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source) as backup_db, sqlite3.connect(database) as live:
        backup_db.backup(live)
    return count


def _check(path: Path) -> int:
    if not path.is_file():
        raise AiserveError(f"no backup at {path}")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            if db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise AiserveError(f"{path} is damaged (SQLite's integrity check failed)")
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not tables >= _TABLES:
                raise AiserveError(f"{path} is not an aiserve database")
            return int(db.execute("SELECT count(*) FROM usage_events").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise AiserveError(f"{path} is not a SQLite database ({exc})") from None
