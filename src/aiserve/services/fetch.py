"""Fetch the `http(s)://` image URLs that chat requests may name, without letting a request probe the server's network.

The defences, in the order a fetch meets them:

- fetching is off unless `models.chat.images.fetch` is on; only `http` and `https` URLs of at most 8192 characters,
  without credentials, with a well-formed host and port, are taken;
- the host is resolved here, and the fetch is refused when any address it resolves to is not public (loopback,
  private, link-local, multicast, reserved, or an IPv4 one of those inside an IPv4-mapped, 6to4 or NAT64 IPv6
  address), unless `models.chat.images.fetch_private` is on. IP literals, however they are written (`2130706433`,
  `0x7f.1`), are resolved and checked the same way;
- the connection goes to the checked address, not to the name, so a DNS answer that changes between the check and
  the connection (DNS rebinding) cannot move it; the `Host` header, TLS SNI and the certificate check use the name;
- redirects are not followed, proxies from the environment are not used, compressed bodies are refused, a body over
  `models.chat.images.max_bytes` is refused (by its Content-Length, else while it streams), and the whole fetch,
  resolving and connecting included, has `models.chat.images.fetch_timeout_s` to finish.

Every refusal is an `InvalidInput` (a `PayloadTooLarge` for size) naming the field at fault and the URL's host, never
the whole URL, whose query may hold secrets.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import httpx

from aiserve import __version__
from aiserve.errors import InvalidInput, PayloadTooLarge
from aiserve.settings import ChatImageSettings

MAX_URL_CHARS = 8192
"""The longest image URL fetched."""

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")
_PATH_SAFE = "/%!$&'()*+,;=:@~"
"""What stays as written when a path or query is percent-encoded: its delimiters and any escapes already there."""
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class _Target:
    """A parsed image URL: what to resolve, what to ask for and what to call it."""

    scheme: str
    host: str
    """The host as sent in SNI and resolved: an ASCII (IDNA) name or an IP literal, IPv6 without brackets."""
    port: int
    path: str
    """The path and query, percent-encoded to ASCII, never empty."""
    authority: str
    """host[:port] as the `Host` header and the error messages write it (the port only when not the default)."""


async def fetch_image(url: str, settings: ChatImageSettings, *, param: str) -> bytes:
    """The body at `url`, an `http(s)://` image URL a request named in its field `param`.

    Raises `InvalidInput` (naming `param` and the URL's host) when fetching is off, the URL is not one that is
    fetched, its host resolves to a non-public address while `fetch_private` is off, or the server answers other than
    with a 2xx in time; `PayloadTooLarge` when the body is over `settings.max_bytes`.
    """
    if not settings.fetch:
        raise InvalidInput(
            "Image URLs are not fetched on this server (models.chat.images.fetch is off): send the image as a data "
            "URL.",
            param=param,
        )
    target = _parse(url, param=param)
    try:
        async with asyncio.timeout(settings.fetch_timeout_s):
            addresses = await _resolve(target, settings, param=param)
            return await _download(target, addresses, settings, param=param)
    except (TimeoutError, httpx.TimeoutException):
        raise InvalidInput(
            f"The image at {target.authority} did not arrive within {settings.fetch_timeout_s:g} s "
            "(models.chat.images.fetch_timeout_s).",
            param=param,
        ) from None
    except httpx.RequestError as exc:
        raise InvalidInput(_network_failure(target, exc), param=param) from None


def _parse(url: str, *, param: str) -> _Target:
    """The parts of `url` to fetch, or `InvalidInput` when it is not an http(s) URL that may be fetched."""
    if len(url) > MAX_URL_CHARS:
        raise InvalidInput(f"The image URL is longer than {MAX_URL_CHARS} characters.", param=param)
    malformed = InvalidInput("The image URL is not a well-formed http:// or https:// URL.", param=param)
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise malformed from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise InvalidInput(
            f"Only http:// and https:// image URLs are fetched{f', not {scheme}://' if scheme else ''}: send the "
            "image as a data URL.",
            param=param,
        )
    if "@" in parts.netloc:
        raise InvalidInput("Image URLs may not carry credentials (user:password@host).", param=param)
    host = _host(parts.netloc, parts.hostname)
    port = _port(parts.netloc, scheme)
    if host is None or port is None:
        raise malformed
    shown = f"[{host}]" if ":" in host else host
    authority = shown if port == _DEFAULT_PORTS[scheme] else f"{shown}:{port}"
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        path = f"{path}?{quote(parts.query, safe=_PATH_SAFE + '?')}"
    return _Target(scheme=scheme, host=host, port=port, path=path, authority=authority)


def _host(netloc: str, hostname: str | None) -> str | None:
    """The URL's host as an ASCII name or an IP literal (IPv6 without brackets and zone), None when malformed."""
    if not hostname:
        return None
    if netloc.startswith("["):
        if "%" in hostname:  # a zone id: only link-local addresses have one
            return None
        try:
            return str(ipaddress.IPv6Address(hostname))
        except ValueError:  # IPv4 or a name in brackets
            return None
    try:
        ascii_host = hostname.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    if len(ascii_host) > 254 or not _HOST_NAME.fullmatch(ascii_host):
        return None
    return ascii_host


def _port(netloc: str, scheme: str) -> int | None:
    """The URL's port (the scheme's default when none is written), None when it is not 1 to 65535 in ASCII digits."""
    after_host = netloc.rpartition("]")[2] if netloc.startswith("[") else netloc
    text = after_host.partition(":")[2] if ":" in after_host else ""
    if not text:
        return _DEFAULT_PORTS[scheme]
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        return None
    return int(text)


async def _resolve(target: _Target, settings: ChatImageSettings, *, param: str) -> list[_IPAddress]:
    """The addresses the host resolves to; `InvalidInput` when one is not public and that is not allowed."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except OSError:
        raise InvalidInput(
            f"The image URL's host {target.host} could not be resolved (DNS lookup failed).", param=param
        ) from None
    addresses: list[_IPAddress] = []
    for family, _, _, _, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise InvalidInput(f"The image URL's host {target.host} resolves to no IP address.", param=param)
    if not settings.fetch_private and not all(_is_public(a) for a in addresses):
        raise InvalidInput(
            f"The image URL's host {target.host} resolves to a non-public address (loopback, private, link-local or "
            "reserved), which is not fetched (models.chat.images.fetch_private is off).",
            param=param,
        )
    return addresses


def _is_public(address: _IPAddress) -> bool:
    """Whether `address` is a public unicast one, judging an IPv4 address carried inside an IPv6 one by itself."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
        if embedded is not None:
            return _is_public(embedded)
        if address in _IPV4_COMPATIBLE or address in _NAT64_LOCAL:
            return False
    return address.is_global and not address.is_multicast


async def _download(target: _Target, addresses: list[_IPAddress], settings: ChatImageSettings, *, param: str) -> bytes:
    """GET the target from the first of `addresses` that takes the connection, sending its name as the `Host`."""
    headers = {
        "Host": target.authority,
        "User-Agent": f"aiserve/{__version__}",
        "Accept": "image/*",
        "Accept-Encoding": "identity",
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    timeout = httpx.Timeout(settings.fetch_timeout_s)
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=timeout) as client:
        for index, address in enumerate(addresses):
            url = httpx.URL(scheme=target.scheme, host=str(address), port=target.port, raw_path=target.path.encode())
            try:
                async with client.stream("GET", url, headers=headers, extensions=extensions) as response:
                    return await _read(response, target, settings, param=param)
            except httpx.ConnectError:
                if index == len(addresses) - 1:
                    raise
    raise AssertionError("unreachable: addresses is never empty")  # pragma: no cover


async def _read(response: httpx.Response, target: _Target, settings: ChatImageSettings, *, param: str) -> bytes:
    """The body of a 2xx answer, read up to one byte past the limit; `InvalidInput` for any other answer."""
    status = response.status_code
    if 300 <= status < 400:
        raise InvalidInput(
            f"The image URL on {target.authority} answered with a redirect (HTTP {status}), and redirects are not "
            "followed: send the URL it redirects to.",
            param=param,
        )
    if not 200 <= status < 300:
        raise InvalidInput(f"The image URL on {target.authority} answered HTTP {status}.", param=param)
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise InvalidInput(
            f"The image at {target.authority} came compressed ({encoding}), which is not accepted.", param=param
        )
    too_large = PayloadTooLarge(
        f"The image at {target.authority} is larger than {settings.max_bytes} bytes (models.chat.images.max_bytes).",
        param=param,
    )
    length = response.headers.get("content-length", "").strip()
    if length.isascii() and length.isdigit() and int(length) > settings.max_bytes:
        raise too_large
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > settings.max_bytes:
            raise too_large
    return bytes(body)


def _network_failure(target: _Target, exc: httpx.RequestError) -> str:
    """One sentence saying how fetching from the target failed on the network."""
    if isinstance(exc, httpx.ConnectError):
        if _caused_by(exc, ssl.SSLError):
            what = "the TLS handshake failed (the certificate is not valid for the host, or not trusted)"
        else:
            what = "the connection was refused or the host is unreachable"
    else:
        what = f"the connection failed while talking to it ({type(exc).__name__})"
    return f"The image at {target.authority} could not be fetched: {what}."


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether `exc` or an exception in its chain of causes is a `kind`."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
