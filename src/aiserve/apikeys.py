"""API keys: made from a CSPRNG, shown once, stored only as a SHA-256 digest, compared in constant time.

A key reads `sk-<lookup><secret>`: the first `LOOKUP_CHARS` characters after `sk-` are stored in clear as the
key's prefix, so a request finds its row by an indexed lookup, and the whole key is then checked against the
stored digest. A key carries 256 random bits, so a fast digest is safe: there is nothing to guess.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from aiserve.protocol.keys import SCOPES, Scope

KEY_START = "sk-"
LOOKUP_CHARS = 8


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly made key: `plaintext` is shown once and never stored."""

    plaintext: str
    prefix: str
    digest: str


def generate() -> NewKey:
    """A new random key with its lookup prefix and digest. The prefix never starts with `-`, so it can be typed as
    a command-line argument (`aiserve keys revoke PREFIX`)."""
    plaintext = KEY_START + secrets.token_urlsafe(32)
    while plaintext[len(KEY_START)] == "-":
        plaintext = KEY_START + secrets.token_urlsafe(32)
    return NewKey(plaintext, lookup_prefix(plaintext), digest(plaintext))


def adopt(plaintext: str) -> NewKey:
    """A key chosen by the operator (the bootstrap key), checked for shape."""
    if not well_formed(plaintext):
        raise ValueError(f"an API key must start with '{KEY_START}' and have at least 24 more characters")
    return NewKey(plaintext, lookup_prefix(plaintext), digest(plaintext))


def lookup_prefix(key: str) -> str:
    """The part of a key stored in clear to find its row."""
    return key[len(KEY_START) : len(KEY_START) + LOOKUP_CHARS]


def digest(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def matches(key: str, stored_digest: str) -> bool:
    """Whether `key` is the key behind `stored_digest`, in time that does not depend on where they differ."""
    return hmac.compare_digest(digest(key).encode(), stored_digest.encode())


def well_formed(key: str) -> bool:
    """Whether `key` could be one of ours (checked before any lookup)."""
    return key.startswith(KEY_START) and len(key) >= len(KEY_START) + LOOKUP_CHARS + 16


def parse_scopes(text: str) -> tuple[Scope, ...]:
    """Scopes from a comma-separated list; unknown names are an error."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}; scopes: {', '.join(SCOPES)}")
    return tuple(n for n in SCOPES if n in names)
