"""API keys: random, recognisable, stored as a digest, compared exactly."""

from __future__ import annotations

import pytest

from aiserve import apikeys as keys

pytestmark = pytest.mark.unit


def test_keys_are_random_and_carry_their_lookup_prefix() -> None:
    made = {keys.generate().plaintext for _ in range(200)}
    assert len(made) == 200
    key = keys.generate()
    assert key.plaintext.startswith("sk-")
    assert len(key.plaintext) >= 40
    assert key.prefix == key.plaintext[3:11] == keys.lookup_prefix(key.plaintext)
    assert key.digest == keys.digest(key.plaintext) != key.plaintext
    assert key.plaintext[3:] not in key.digest


def test_only_the_exact_key_matches_its_digest() -> None:
    key = keys.generate()
    assert keys.matches(key.plaintext, key.digest)
    assert not keys.matches(key.plaintext[:-1] + ("A" if key.plaintext[-1] != "A" else "B"), key.digest)
    assert not keys.matches(key.plaintext + " ", key.digest)
    assert not keys.matches("", key.digest)


def test_malformed_keys_are_refused_before_any_lookup() -> None:
    assert keys.well_formed(keys.generate().plaintext)
    for bad in ("", "sk-", "sk-short", "Bearer sk-abcdefghijklmnopqrstuvwxyz", "pk-" + "a" * 40):
        assert not keys.well_formed(bad)


def test_scopes_are_parsed_and_checked() -> None:
    assert keys.parse_scopes("usage:read, admin") == ("admin", "usage:read")
    assert keys.parse_scopes("inference") == ("inference",)
    with pytest.raises(ValueError, match="unknown scope 'root'"):
        keys.parse_scopes("inference,root")


def test_a_prefix_never_reads_as_a_command_line_option() -> None:
    assert not any(keys.generate().prefix.startswith("-") for _ in range(2000))  # 1 in 64 would without the rule
