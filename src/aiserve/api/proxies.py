"""The real client behind reverse proxies: a request that comes from a trusted proxy has its `X-Forwarded-For`,
`X-Real-IP` and `X-Forwarded-Proto` honoured, so logs, the usage ledger and per-address limits see the client;
from anyone else those headers are ignored, so a client cannot claim another address.

`X-Forwarded-For` is read from the right: the first address that is not a trusted proxy is the client (the
left-most entries are whatever the client chose to send)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """Addresses or CIDR ranges, parsed (`ValueError` names a bad one)."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def _trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def _address(text: str) -> str | None:
    """`text` as a canonical IP address, or None when it is not one (a forged or mangled header)."""
    try:
        return str(ipaddress.ip_address(text.strip().strip("[]")))
    except ValueError:
        return None


def real_client(peer: str, headers: dict[bytes, bytes], trusted: tuple[Network, ...]) -> str:
    """The client's address: `peer` itself unless it is a trusted proxy that says who it forwarded for (with a
    valid address: anything else in the header is ignored)."""
    found = _forwarded(peer, headers, trusted)
    return (_address(found) or peer) if found != peer else peer


def _forwarded(peer: str, headers: dict[bytes, bytes], trusted: tuple[Network, ...]) -> str:
    if not _trusted(peer, trusted):
        return peer
    forwarded = headers.get(b"x-forwarded-for")
    if forwarded:
        hops = [hop.strip() for hop in forwarded.decode("latin-1").split(",") if hop.strip()]
        for hop in reversed(hops):
            if not _trusted(hop, trusted):
                return hop
        return hops[0] if hops else peer
    real = headers.get(b"x-real-ip")
    return real.decode("latin-1").strip() if real else peer


class ProxyHeadersMiddleware:
    """Rewrites the request's client address and scheme from a trusted proxy's headers."""

    def __init__(self, app: ASGIApp, *, trusted: Iterable[str]) -> None:
        self.app = app
        self.trusted = networks(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] in ("http", "websocket") and client and self.trusted and _trusted(client[0], self.trusted):
            headers = dict(scope["headers"])
            scope["client"] = (real_client(client[0], headers, self.trusted), client[1])
            proto = headers.get(b"x-forwarded-proto", b"").decode("latin-1").strip().lower()
            if proto in ("http", "https"):
                scope["scheme"] = proto if scope["type"] == "http" else {"http": "ws", "https": "wss"}[proto]
        await self.app(scope, receive, send)
