"""Fetching image URLs against real HTTP servers on loopback: the image comes back byte for byte when private
addresses are allowed; otherwise any URL that lands on a non-public address, however it is written, is refused before
a connection is made, and so are redirects, errors, bodies over the limit, slow servers and URLs that are not plain
http(s)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from aiserve.errors import InvalidInput, PayloadTooLarge
from aiserve.services.fetch import _is_public, fetch_image
from aiserve.settings import ChatImageSettings

pytestmark = pytest.mark.integration

PARAM = "messages[0].content[1].image_url.url"
LIMIT = 1000


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 30, 90)).save(out, format="PNG")
    return out.getvalue()


PNG = _png()


class Handler(BaseHTTPRequestHandler):
    """The routes the tests fetch; protocol HTTP/1.1 so a body can come chunked."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        routes: dict[str, Callable[[], None]] = {
            "/x.png": lambda: self._send(200, PNG, content_type="image/png"),
            "/host": lambda: self._send(200, self.headers.get("Host", "").encode()),
            "/echo": lambda: self._send(200, self.path.encode()),
            "/big": lambda: self._send(200, b"\0" * (LIMIT * 5)),
            "/exact": lambda: self._send(200, b"\1" * LIMIT),
            "/chunked": lambda: self._chunked([b"\2" * 300] * 10),
            "/gzip": lambda: self._send(200, gzip.compress(PNG), content_encoding="gzip"),
            "/redirect": self._redirect,
            "/slow": lambda: self._drip(count=20, every_s=0.5),
        }
        route = "/" + self.path.partition("?")[0].split("/")[1]
        with contextlib.suppress(OSError):  # the client stopped reading, as it should
            routes.get(route, lambda: self._send(404, b"not here"))()

    def _send(self, status: int, body: bytes, *, content_type: str = "application/octet-stream",
              content_encoding: str | None = None) -> None:  # fmt: skip
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if content_encoding:
            self.send_header("Content-Encoding", content_encoding)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self) -> None:
        self.send_response(302)
        self.send_header("Location", "http://127.0.0.1:1/x.png")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _chunked(self, chunks: list[bytes]) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def _drip(self, *, count: int, every_s: float) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(count))
        self.end_headers()
        for _ in range(count):
            self.wfile.write(b"x")
            self.wfile.flush()
            time.sleep(every_s)


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    """A real HTTP server on 127.0.0.1, on a free port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


def settings(**fields: object) -> ChatImageSettings:
    defaults: dict[str, object] = {"fetch": True, "fetch_private": True, "max_bytes": LIMIT, "fetch_timeout_s": 1.0}
    return ChatImageSettings.model_validate(defaults | fields)


async def refused(url: str, config: ChatImageSettings, kind: type[InvalidInput] = InvalidInput) -> InvalidInput:
    with pytest.raises(kind) as caught:
        await fetch_image(url, config, param=PARAM)
    assert caught.value.param == PARAM
    return caught.value


@pytest.mark.asyncio
async def test_the_png_comes_back_byte_for_byte_when_private_addresses_are_allowed(port: int) -> None:
    assert await fetch_image(f"http://127.0.0.1:{port}/x.png", settings(max_bytes=len(PNG)), param=PARAM) == PNG
    assert await fetch_image(f"http://localhost:{port}/x.png?v=1#top", settings(), param=PARAM) == PNG
    assert await fetch_image(f"http://127.0.0.1:{port}/exact", settings(), param=PARAM) == b"\1" * LIMIT


@pytest.mark.asyncio
async def test_the_name_goes_in_the_host_header_while_the_connection_goes_to_the_checked_address(port: int) -> None:
    assert await fetch_image(f"http://LocalHost:{port}/host", settings(), param=PARAM) == f"localhost:{port}".encode()


@pytest.mark.asyncio
async def test_the_path_and_query_arrive_percent_encoded(port: int) -> None:
    body = await fetch_image(f"http://127.0.0.1:{port}/echo/a b/%41?q=ü&x=%20&y=a+b", settings(), param=PARAM)
    assert body == b"/echo/a%20b/%41?q=%C3%BC&x=%20&y=a+b"


@pytest.mark.asyncio
async def test_fetching_off_is_refused_naming_the_setting(port: int) -> None:
    error = await refused(f"http://127.0.0.1:{port}/x.png", settings(fetch=False))
    assert "models.chat.images.fetch is off" in error.message
    assert "data URL" in error.message


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "authority",
    ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "2130706433:{port}", "0x7f.1:{port}", "127.1:{port}",
     "[::ffff:127.0.0.1]:{port}", "[::ffff:7f00:1]:{port}", "0.0.0.0:{port}", "10.0.0.1", "169.254.169.254",
     "192.168.1.1", "[fe80::1]", "[fc00::1]", "224.0.0.1", "[ff02::1]", "[64:ff9b::a00:1]", "[2002:7f00:1::]",
     "[::7f00:1]", "100.64.0.1", "255.255.255.255"],
)  # fmt: skip
async def test_non_public_addresses_are_refused_however_written(port: int, authority: str) -> None:
    host = authority.format(port=port).rpartition(":")[0] if "{port}" in authority else authority
    try:
        socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except OSError:
        pytest.skip(f"this resolver does not take {host}")
    error = await refused(f"http://{authority.format(port=port)}/x.png?token=secret", settings(fetch_private=False))
    assert "non-public address" in error.message
    assert "fetch_private is off" in error.message
    assert "secret" not in error.message


@pytest.mark.parametrize(
    ("address", "public"),
    [("8.8.8.8", True), ("2606:4700::1111", True), ("::ffff:8.8.8.8", True), ("2002:808:808::", True),
     ("64:ff9b::808:808", True), ("127.0.0.1", False), ("::ffff:127.0.0.1", False), ("::ffff:10.1.2.3", False),
     ("64:ff9b::a00:1", False), ("64:ff9b:1::8.8.8.8", False), ("2002:a00:1::", False), ("::8.8.8.8", False),
     ("224.0.0.1", False), ("ff0e::1", False), ("fd00::1", False), ("::", False), ("2001::1", False)],
)  # fmt: skip
def test_an_address_is_public_only_when_what_it_reaches_is(address: str, public: bool) -> None:
    assert _is_public(ipaddress.ip_address(address)) is public


@pytest.mark.asyncio
async def test_a_body_over_the_limit_is_refused_by_its_content_length(port: int) -> None:
    error = await refused(f"http://127.0.0.1:{port}/big", settings(), PayloadTooLarge)
    assert f"larger than {LIMIT} bytes" in error.message


@pytest.mark.asyncio
async def test_a_body_over_the_limit_is_refused_while_it_streams(port: int) -> None:
    error = await refused(f"http://127.0.0.1:{port}/chunked", settings(), PayloadTooLarge)
    assert "models.chat.images.max_bytes" in error.message
    assert await fetch_image(f"http://127.0.0.1:{port}/chunked", settings(max_bytes=3000), param=PARAM) == b"\2" * 3000


@pytest.mark.asyncio
async def test_a_redirect_is_not_followed(port: int) -> None:
    error = await refused(f"http://127.0.0.1:{port}/redirect", settings())
    assert "redirect (HTTP 302)" in error.message
    assert "not followed" in error.message


@pytest.mark.asyncio
async def test_an_error_status_is_refused_naming_it_and_the_host_but_not_the_query(port: int) -> None:
    error = await refused(f"http://127.0.0.1:{port}/missing?key=hunter2", settings())
    assert "HTTP 404" in error.message
    assert f"127.0.0.1:{port}" in error.message
    assert "hunter2" not in error.message


@pytest.mark.asyncio
async def test_a_compressed_body_is_refused(port: int) -> None:
    error = await refused(f"http://127.0.0.1:{port}/gzip", settings())
    assert "compressed (gzip)" in error.message


@pytest.mark.asyncio
async def test_a_slow_drip_is_cut_at_the_time_limit(port: int) -> None:
    error = await refused(f"http://127.0.0.1:{port}/slow", settings(fetch_timeout_s=1.0))
    assert "within 1 s" in error.message
    assert "fetch_timeout_s" in error.message


@pytest.mark.asyncio
async def test_a_closed_port_is_a_network_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    error = await refused(f"http://127.0.0.1:{closed}/x.png", settings())
    assert "refused or the host is unreachable" in error.message


@pytest.mark.asyncio
async def test_a_name_that_does_not_resolve_is_a_dns_error() -> None:
    error = await refused("http://no-such-host.invalid/x.png", settings())
    assert "could not be resolved" in error.message
    assert "no-such-host.invalid" in error.message


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("url", "words"),
    [("ftp://127.0.0.1/x.png", "not ftp://"), ("file:///etc/passwd", "not file://"),
     ("data:image/png;base64,AAAA", "not data://"), ("http://user:pw@127.0.0.1/x.png", "credentials"),
     ("http://user@127.0.0.1/x.png", "credentials"), ("not a url", "Only http:// and https://"),
     ("http://", "well-formed"), ("http:///x.png", "well-formed"), ("http://exa mple.com/", "well-formed"),
     ("http://[::1/", "well-formed"), ("http://[127.0.0.1]/", "well-formed"),
     ("http://[fe80::1%25eth0]/", "well-formed"),
     ("http://127.0.0.1:99999/", "well-formed"), ("http://127.0.0.1:0/", "well-formed"),
     ("http://127.0.0.1:-1/", "well-formed"), ("http://127.0.0.1:٣/", "well-formed"),
     ("http://127.0.0.1:8a/", "well-formed"), ("https://a..b/", "well-formed"),
     ("http://example.com/" + "x" * 8192, "longer than 8192")],
)  # fmt: skip
async def test_urls_that_are_not_plain_http_are_refused(url: str, words: str) -> None:
    error = await refused(url, settings(fetch_timeout_s=0.5))
    assert words in error.message


@pytest.mark.asyncio
@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
async def test_https_sends_the_name_as_sni_and_checks_the_certificate(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    names: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    async with server:
        error = await refused(f"https://localhost:{port}/x.png", settings())
    assert names == ["localhost"]  # not the address the connection went to
    assert "TLS handshake failed" in error.message
