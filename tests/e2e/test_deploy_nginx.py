"""`aiserve deploy nginx` rendered, checked by real `nginx -t` with a self-signed certificate, and served on
loopback in front of a real aiserve: HTTP redirects to HTTPS, a classification and a streamed chat go through,
an oversized body is refused by nginx, and the server sees the real client's address (not nginx's, not a forged
one)."""

from __future__ import annotations

import asyncio
import base64
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import skimage
from sqlalchemy import select

from aiserve.bench.server import ServerProcess
from aiserve.settings import load_settings
from aiserve.usage.db import make_engine, sessions
from aiserve.usage.tables import UsageEvent
from tests.e2e.test_cli import aiserve
from tests.services import free_port

pytestmark = pytest.mark.e2e

ADMIN = "sk-nginx-admin-" + "x" * 32
COFFEE = base64.b64encode((Path(skimage.__file__).parent / "data" / "coffee.png").read_bytes()).decode()
CLIENT = "127.0.0.2"  # the client's own loopback address; nginx reaches aiserve from 127.0.0.1


@pytest.fixture(scope="module")
def site(data_dir: Path) -> Iterator[tuple[str, str, Path]]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists() or shutil.which("openssl") is None:
        pytest.skip("nginx or openssl is not installed (make test installs nginx)")
    with tempfile.TemporaryDirectory(prefix="aiserve-site-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)
        (work / "models").symlink_to(data_dir / "models")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                        "/CN=api.example.test", "-keyout", str(work / "key.pem"), "-out", str(work / "cert.pem")],
                       check=True, capture_output=True)  # fmt: skip
        args = ["--data-dir", str(work), "--model", "efficientnet-lite0", "--model", "smollm2-135m-instruct"]
        env = {"AISERVE_SERVER__TRUSTED_PROXIES": '["127.0.0.1"]'}
        with ServerProcess(args, api_key=ADMIN, env=env) as server:
            http_port, https_port = free_port(), free_port()
            rendered = aiserve("deploy", "nginx", "--domain", "api.example.test", "--upstream",
                               f"127.0.0.1:{server.port}", "--listen-address", "127.0.0.1", "--http-port",
                               str(http_port), "--https-port", str(https_port), "--certificate",
                               str(work / "cert.pem"), "--certificate-key", str(work / "key.pem"),
                               "--output", str(work / "aiserve.conf"))  # fmt: skip
            assert rendered.returncode == 0, rendered.stderr
            main = work / "nginx.conf"
            main.write_text(f"daemon off; pid {work}/nginx.pid; error_log {work}/error.log warn;\n"
                            "events { worker_connections 256; }\n"
                            f"http {{ access_log {work}/access.log; client_body_temp_path {work}/body; "
                            f"proxy_temp_path {work}/proxy; fastcgi_temp_path {work}/fcgi; uwsgi_temp_path "
                            f"{work}/uwsgi; scgi_temp_path {work}/scgi; include {work}/aiserve.conf; }}\n")  # fmt: skip
            checked = subprocess.run([binary, "-t", "-c", str(main), "-p", str(work)], capture_output=True, text=True)
            assert checked.returncode == 0, checked.stderr
            assert "syntax is ok" in checked.stderr
            nginx = subprocess.Popen([binary, "-c", str(main), "-p", str(work)], stderr=subprocess.DEVNULL)
            try:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    try:
                        httpx.get(f"http://127.0.0.1:{http_port}/", timeout=1)
                        break
                    except httpx.TransportError:
                        time.sleep(0.05)
                yield f"http://127.0.0.1:{http_port}", f"https://127.0.0.1:{https_port}", work
            finally:
                nginx.terminate()
                nginx.wait(10)


def client(**kw: object) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=CLIENT, verify=False)
    return httpx.Client(transport=transport, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=600, **kw)  # type: ignore[arg-type]


def test_http_redirects_to_https(site: tuple[str, str, Path]) -> None:
    plain, secure, _ = site
    with client() as http:
        moved = http.get(f"{plain}/v1/models")
    assert moved.status_code == 301
    assert moved.headers["location"] == f"{secure}/v1/models"  # the same host, over HTTPS


def test_classify_and_a_streamed_chat_through_https(site: tuple[str, str, Path]) -> None:
    _, secure, _ = site
    with client() as http:
        answer = http.post(f"{secure}/v1/classify", json={"image": COFFEE}, headers={"X-Forwarded-For": "6.6.6.6"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"][0]["label"] == "espresso"
        assert answer.headers["strict-transport-security"].startswith("max-age=")
        # greedy: a sampled answer may end before the ten events the check below needs
        chat = {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "Count to ten."}],
                "max_tokens": 24, "temperature": 0, "stream": True}  # fmt: skip
        arrivals = []
        with http.stream("POST", f"{secure}/v1/chat/completions", json=chat) as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    arrivals.append((time.monotonic(), line))
    assert arrivals[-1][1] == "data: [DONE]"
    assert len(arrivals) > 10
    assert arrivals[-1][0] - arrivals[1][0] > 0.05  # events arrived as generated, not in one buffered lump


def test_an_oversized_body_is_refused_by_nginx(site: tuple[str, str, Path]) -> None:
    _, secure, _ = site
    with client() as http:
        refused = http.post(f"{secure}/v1/classify", content=b"x" * (9 * 1024 * 1024),
                            headers={"Content-Type": "application/json"})  # fmt: skip
    assert refused.status_code == 413


def test_an_oversized_header_is_refused_by_nginx(site: tuple[str, str, Path]) -> None:
    _, secure, _ = site
    with client() as http:
        refused = http.get(f"{secure}/health", headers={"X-Padding": "a" * 20_000})
        assert refused.status_code == 400  # "Request Header Or Cookie Too Large": it never reaches aiserve
        assert http.get(f"{secure}/health").status_code == 200


def test_the_server_sees_the_real_client(site: tuple[str, str, Path]) -> None:
    _, _, work = site

    async def addresses() -> list[str | None]:
        engine = make_engine(load_settings(data_dir=work))
        async with sessions(engine)() as session:
            rows = await session.execute(select(UsageEvent.client_ip).where(UsageEvent.route == "/v1/classify"))
            found = [row[0] for row in rows]
        await engine.dispose()
        return found

    deadline = time.monotonic() + 10
    while not (seen := asyncio.run(addresses())) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert seen == [CLIENT]  # not nginx's 127.0.0.1, and not the forged 6.6.6.6
