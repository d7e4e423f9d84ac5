"""`aiserve db|users|keys` against the database, run as an operator would."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_cli import aiserve

pytestmark = pytest.mark.e2e


def test_users_and_keys_from_the_command_line(tmp_path: Path) -> None:
    where = ("--data-dir", str(tmp_path))
    migrated = aiserve("db", "migrate", *where)
    assert migrated.returncode == 0, migrated.stderr
    assert "database up to date" in migrated.stdout
    assert aiserve("users", "create", "alice", *where).returncode == 0
    made = aiserve("keys", "create", "--user", "alice", "--name", "laptop", *where)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("sk-")
    assert len(key.splitlines()) == 1  # stdout is the key alone, for `KEY=$(aiserve keys create ...)`
    assert "not shown again" in made.stderr
    listed = aiserve("keys", "list", *where)
    assert listed.returncode == 0
    assert key[3:11] in listed.stdout  # the prefix
    assert key not in listed.stdout
    assert key[11:] not in listed.stdout
    assert "active" in listed.stdout
    assert aiserve("keys", "revoke", key[3:11], *where).returncode == 0
    assert "revoked" in aiserve("keys", "list", "--user", "alice", *where).stdout
    users = aiserve("users", "list", *where)
    assert "alice" in users.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("users", "create", "alice"), "already exists"),
        (("keys", "create", "--user", "bob"), "No user named 'bob'"),
        (("keys", "create", "--user", "alice", "--scopes", "root"), "unknown scope 'root'"),
        (("keys", "revoke", "42"), "No API key '42'"),
    ],
)
def test_mistakes_are_one_friendly_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    aiserve("users", "create", "alice", "--data-dir", str(tmp_path))
    failed = aiserve(*args, "--data-dir", str(tmp_path))
    assert failed.returncode == 1
    assert failed.stderr.startswith("error: ")
    assert message in failed.stderr
    assert "Traceback" not in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1


def test_sqlite_backup_and_restore(tmp_path: Path) -> None:
    where = ("--data-dir", str(tmp_path / "live"))
    assert aiserve("users", "create", "kept", *where).returncode == 0
    copy = tmp_path / "backup.db"
    made = aiserve("db", "backup", str(copy), *where)
    assert made.returncode == 0, made.stderr
    assert "backed up to" in made.stdout
    assert aiserve("users", "create", "after-the-backup", *where).returncode == 0
    assert aiserve("db", "backup", str(copy), *where).stderr.startswith("error: ")  # never overwrites
    restored = aiserve("db", "restore", str(copy), *where)
    assert restored.returncode == 0, restored.stderr
    users = aiserve("users", "list", *where).stdout
    assert "kept" in users
    assert "after-the-backup" not in users
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"not a database at all" * 100)
    refused = aiserve("db", "restore", str(broken), *where)
    assert refused.returncode == 1
    assert "is not a SQLite database" in refused.stderr
    assert "kept" in aiserve("users", "list", *where).stdout  # a bad backup leaves the database alone
