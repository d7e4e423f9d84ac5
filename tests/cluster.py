"""A local cluster as production runs it: real nginx on loopback in front of replicas of `aiserve serve` that
share one PostgreSQL and one Redis, each on a free loopback port with its own temporary folder.

Try it by hand (Ctrl-C stops everything):

    .venv/bin/python -m tests.cluster          # prints the nginx URL and the admin key
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from aiserve.bench.server import ServerProcess
from aiserve.deploy.nginx import PROXY
from tests.services import free_port, postgres, redis_server

ADMIN = "sk-cluster-admin-" + "n" * 32

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream aiserve {{
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 8m;
        location / {{
{proxy}        add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


@dataclass
class Cluster:
    """The running cluster."""

    url: str
    replicas: list[ServerProcess]
    database: str
    redis: str


def nginx_config(port: int, upstreams: list[int], tmp: Path) -> str:
    """nginx in front of the replicas on `upstreams`."""
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;" for p in upstreams)
    return NGINX_CONF.format(tmp=tmp, port=port, servers=servers, proxy=PROXY)


@contextmanager
def nginx(upstreams: list[int]) -> Iterator[str]:
    """Real nginx on a free loopback port; its URL."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        pytest.skip("nginx is not installed (apt-get install nginx; make test does it)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="aiserve-nginx-") as tmp:
        Path(tmp).chmod(0o755)  # nginx's workers (not root) keep request bodies in folders below it
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(nginx_config(port, upstreams, Path(tmp)))
        subprocess.run([binary, "-t", "-c", str(conf), "-p", tmp], check=True, capture_output=True)
        process = subprocess.Popen([binary, "-c", str(conf), "-p", tmp], stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        try:
            yield url
        finally:
            process.terminate()
            process.wait(10)


@contextmanager
def cluster(models_dir: Path, replicas: int = 3, env: dict[str, str] | None = None) -> Iterator[Cluster]:
    """PostgreSQL, Redis, `replicas` servers sharing them, and nginx in front."""
    with postgres() as database, redis_server() as redis, ExitStack() as stack:
        shared = {"AISERVE_DATABASE__URL": database, "AISERVE_RATELIMIT__BACKEND": "redis",
                  "AISERVE_RATELIMIT__REDIS_URL": redis, "AISERVE_RATELIMIT__FAIL_OPEN": "false",
                  "AISERVE_RATELIMIT__EXEMPT_ADMIN": "true", **(env or {})}  # fmt: skip
        servers = []
        for _ in range(replicas):  # one after another: the first migrates the empty database and makes the admin key
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="aiserve-replica-")))
            (home / "models").symlink_to(models_dir)
            args = ["--data-dir", str(home), "--model", "all-minilm-l6-v2", "--model", "efficientnet-lite0"]
            servers.append(stack.enter_context(ServerProcess(args, api_key=ADMIN, env=shared)))
        url = stack.enter_context(nginx([s.port for s in servers]))
        yield Cluster(url, servers, database, redis)


def main() -> None:
    models = Path.home() / ".local" / "share" / "aiserve" / "models"
    with cluster(models) as running:
        lines = [f"nginx: {running.url}  replicas: {', '.join(s.url for s in running.replicas)}",
                 f"admin key: {ADMIN}", "Ctrl-C stops everything."]  # fmt: skip
        sys.stdout.write("\n".join(lines) + "\n")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
