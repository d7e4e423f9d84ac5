"""Who the client is behind reverse proxies: only a trusted proxy's forwarding headers count, read from the right."""

from __future__ import annotations

import pytest

from aiserve.api.proxies import networks, real_client

pytestmark = pytest.mark.unit

TRUSTED = networks(["127.0.0.1", "10.0.0.0/8", "::1"])


@pytest.mark.parametrize(
    ("peer", "headers", "client"),
    [
        ("127.0.0.1", {b"x-forwarded-for": b"203.0.113.9"}, "203.0.113.9"),
        # a client's own (spoofed) entries come first; the first untrusted hop from the right is the client
        ("127.0.0.1", {b"x-forwarded-for": b"6.6.6.6, 203.0.113.9, 10.1.2.3"}, "203.0.113.9"),
        ("10.0.0.5", {b"x-real-ip": b"198.51.100.4"}, "198.51.100.4"),
        ("127.0.0.1", {b"x-forwarded-for": b"10.0.0.1, 10.0.0.2"}, "10.0.0.1"),  # all proxies: the first
        ("::1", {b"x-forwarded-for": b"2001:db8::7"}, "2001:db8::7"),
        ("127.0.0.1", {}, "127.0.0.1"),  # a trusted peer that forwards nothing is itself the client
        # anyone else's headers are ignored
        ("198.51.100.7", {b"x-forwarded-for": b"1.2.3.4", b"x-real-ip": b"1.2.3.4"}, "198.51.100.7"),
        ("testclient", {b"x-forwarded-for": b"1.2.3.4"}, "testclient"),
    ],
)
def test_the_real_client(peer: str, headers: dict[bytes, bytes], client: str) -> None:
    assert real_client(peer, headers, TRUSTED) == client


def test_nothing_is_trusted_by_default_and_bad_entries_are_named() -> None:
    assert real_client("127.0.0.1", {b"x-forwarded-for": b"1.2.3.4"}, networks([])) == "127.0.0.1"
    with pytest.raises(ValueError, match="not-an-address"):
        networks(["not-an-address"])
