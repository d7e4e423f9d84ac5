"""`/ui`: the web console, served from the files shipped in the package, each answer with a strict
Content-Security-Policy. The files are public; the console calls the API with the key its user types."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from aiserve.api.errors import error_response
from aiserve.api.policy import public
from aiserve.errors import NotFound
from aiserve.ui import STATIC

router = APIRouter(include_in_schema=False)

CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    )
)
"""Only the console's own files run and style the page, no inline script or style, no `eval`; it talks only to
this server; nobody may frame it or post its forms anywhere; the DOM takes no HTML strings (Trusted Types)."""

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}
"""On every `/ui` answer, errors and redirects included."""

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
}
"""The types the console's files may have; a file of another type is not served."""

_IMMUTABLE = "vendor/"
"""Vendored files carry their version in their folder's name, so a browser may keep them; the console's own files
are checked again each time (cheaply, by their ETag)."""


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    media_type: str
    etag: str


@cache
def _assets() -> dict[str, _Asset]:
    """Every file the console is made of, by its path under `/ui/`, read once. Only these paths are ever served:
    the request's path is looked up, never joined to a folder, so `..` and encoded variants find nothing."""
    found: dict[str, _Asset] = {}
    for path in sorted(STATIC.rglob("*")):
        media_type = _TYPES.get(path.suffix)
        if path.is_file() and media_type:
            body = path.read_bytes()
            found[path.relative_to(STATIC).as_posix()] = _Asset(body, media_type, _etag(body))
    return found


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@router.get("/ui")
@public
async def console_root() -> Response:
    """The console lives under `/ui/`; its links are relative to that (so it works behind a path prefix too)."""
    return RedirectResponse("ui/", status_code=307, headers=SECURITY_HEADERS)


@router.get("/ui/{path:path}")
@public
async def console_file(path: str, request: Request) -> Response:
    """A file of the console; `/ui/` is its page."""
    asset = _assets().get(path or "index.html")
    if asset is None:
        missing = NotFound("The console has no such file.")
        return error_response(missing, headers=SECURITY_HEADERS, api="aiserve")
    cache_control = "public, max-age=31536000, immutable" if path.startswith(_IMMUTABLE) else "no-cache"
    headers = {**SECURITY_HEADERS, "ETag": asset.etag, "Cache-Control": cache_control}
    if _matches(request.headers.get("if-none-match"), asset.etag):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    return if_none_match.strip() == "*" or etag in (tag.strip().removeprefix("W/") for tag in if_none_match.split(","))
