"""An nginx site for aiserve: HTTP → HTTPS, TLS, the forwarding headers, streaming-safe proxying, the server's body
limit, and several replicas with health and retry settings; the Let's Encrypt steps as comments."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiserve.deploy import checks

PROXY = """\
        proxy_pass http://aiserve;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        # streamed answers (server-sent events) pass through as they are written, and may run long
        proxy_buffering off;
        proxy_cache off;
        proxy_read_timeout 3600s;
        proxy_send_timeout 3600s;
        # a replica that is down or draining is skipped: aiserve answers 503 only before starting work
        proxy_next_upstream error timeout http_502 http_503 non_idempotent;
        proxy_next_upstream_tries 3;
        proxy_next_upstream_timeout 10s;
"""
"""The directives of a `location` that proxies to the `aiserve` upstream (shared by every site that fronts it)."""

SITE = """\
# aiserve behind nginx, for https://{domain}
#
# 1. Put this file in /etc/nginx/sites-available/aiserve and link it from sites-enabled.
# 2. Certificates from Let's Encrypt (HTTP-01 through the port-80 server below):
#      sudo apt install certbot
#      sudo mkdir -p /var/www/certbot
#      sudo certbot certonly --webroot -w /var/www/certbot -d {domain}
#    certbot renews them by itself (a systemd timer); check with `sudo certbot renew --dry-run`, and reload
#    nginx after a renewal (`--deploy-hook "systemctl reload nginx"`).
# 3. sudo nginx -t && sudo systemctl reload nginx
# 4. Tell aiserve to believe this proxy's forwarding headers (and no one else's):
#      AISERVE_SERVER__TRUSTED_PROXIES='{trusted}'   (where nginx connects from, as aiserve sees it)

limit_conn_zone $binary_remote_addr zone=aiserve_per_address:10m;

upstream aiserve {{
{servers}
    keepalive 32;
}}

server {{
    listen {http_listen};
    server_name {domain};
    location /.well-known/acme-challenge/ {{
        root /var/www/certbot;
    }}
    location / {{
        return 301 https://$host{https_port_suffix}$request_uri;
    }}
}}

server {{
    listen {https_listen} ssl http2;
    server_name {domain};
    ssl_certificate {certificate};
    ssl_certificate_key {certificate_key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:aiserve:10m;
    add_header Strict-Transport-Security "max-age=31536000" always;

    # the same limit as the server's (server.max_body_bytes): nginx refuses larger bodies before they travel
    client_max_body_size {max_body};
    # slow and greedy clients: headers and body must arrive in time, headers stay small, and one address holds
    # a bounded number of connections (the rest get 503 at once)
    client_header_timeout 10s;
    client_body_timeout 30s;
    large_client_header_buffers 4 16k;
    limit_conn aiserve_per_address 64;

    location / {{
{proxy}    }}
}}
"""


@dataclass(frozen=True)
class Site:
    """What the site needs to know."""

    domain: str
    upstreams: list[str] = field(default_factory=lambda: ["127.0.0.1:8000"])
    max_body_bytes: int = 8 * 1024 * 1024
    listen_address: str | None = None
    """Bind only this address (e.g. a WireGuard tunnel's); unset: all."""
    http_port: int = 80
    https_port: int = 443
    certificate: str | None = None
    certificate_key: str | None = None
    trusted: str = '["127.0.0.1"]'
    """What aiserve's `server.trusted_proxies` must be for this nginx (a container behind Docker's port mapping
    sees Docker's network instead)."""

    def __post_init__(self) -> None:
        checks.domain(self.domain)
        for upstream in self.upstreams:
            checks.upstream(upstream)
        if self.listen_address is not None:
            checks.address(self.listen_address)
        for file in (self.certificate, self.certificate_key):
            if file is not None:
                checks.path(file)


def render(site: Site) -> str:
    """The nginx site."""
    prefix = f"{site.listen_address}:" if site.listen_address else ""
    live = f"/etc/letsencrypt/live/{site.domain}"
    servers = "\n".join(f"    server {upstream} max_fails=3 fail_timeout=10s;" for upstream in site.upstreams)
    return SITE.format(
        domain=site.domain,
        trusted=site.trusted,
        servers=servers,
        http_listen=f"{prefix}{site.http_port}",
        https_listen=f"{prefix}{site.https_port}",
        https_port_suffix="" if site.https_port == 443 else f":{site.https_port}",
        certificate=site.certificate or f"{live}/fullchain.pem",
        certificate_key=site.certificate_key or f"{live}/privkey.pem",
        max_body=f"{-(-site.max_body_bytes // 1024)}k",
        proxy=PROXY,
    )
