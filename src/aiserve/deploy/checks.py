"""What the deploy generators accept: every value that goes into an nginx site or a shell script is checked here
first, so a newline or a quote in a flag cannot add a directive or run a command."""

from __future__ import annotations

import ipaddress
import re

_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"^(?:{_LABEL}\.)+[A-Za-z]{{2,63}}$|^localhost$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@" + rf"(?:{_LABEL}\.)+[A-Za-z]{{2,63}}$")
_HOST = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")
_IMAGE = re.compile(r"^[a-z0-9]+(?:[._/:@-][A-Za-z0-9_.-]+)*$")
_PATH = re.compile(r"^/[A-Za-z0-9._/@+-]*$")


def domain(value: str) -> str:
    """A DNS name such as `api.example.com`."""
    if len(value) > 253 or not _DOMAIN.fullmatch(value):
        raise ValueError(f"--domain must be a DNS name such as api.example.com, not {value!r}")
    return value


def email(value: str) -> str:
    """An e-mail address for Let's Encrypt."""
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise ValueError(f"--email must be an e-mail address, not {value!r}")
    return value


def image(value: str) -> str:
    """A container image reference such as `registry.example.com/team/aiserve:0.1.0`."""
    if len(value) > 512 or not _IMAGE.fullmatch(value):
        raise ValueError(f"--image must be an image reference such as user/aiserve:0.1.0, not {value!r}")
    return value


def upstream(value: str) -> str:
    """`host:port` of a server behind nginx (an IP address or a DNS name)."""
    host, sep, port = value.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    valid_host = _is_address(host) if bracketed or host[:1].isdigit() else bool(_HOST.fullmatch(host))
    if not sep or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536 or not valid_host:
        raise ValueError(f"--upstream must be host:port (a name or an IP address), not {value!r}")
    return value


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def address(value: str) -> str:
    """An IP address."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"expected an IP address, not {value!r}") from None
    return value


def path(value: str) -> str:
    """An absolute file path without spaces, quotes or control characters."""
    if len(value) > 1024 or not _PATH.fullmatch(value):
        raise ValueError(f"expected an absolute path without spaces or quotes, not {value!r}")
    return value
