"""A provisioning script for a fresh Ubuntu LTS VM: updates, Docker from the distribution, a firewall open only on
22/80/443, aiserve in a container with a restart policy and its data volume (published on loopback only), and
nginx with a Let's Encrypt certificate in front."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from aiserve.deploy import checks
from aiserve.deploy.nginx import Site, render

DOCKER_NETWORKS = '["172.16.0.0/12"]'
"""Where nginx's connections come from as a container behind Docker's port mapping sees them."""

SCRIPT = """\
#!/usr/bin/env bash
# Provision a fresh Ubuntu LTS VM to serve aiserve at https://{domain}
#   scp this file to the VM (or paste it as cloud-init user data), then: sudo bash {name}
# Before: point the domain's DNS A record at this VM, and open 22, 80 and 443 in the cloud's firewall.
set -euo pipefail

DOMAIN={q_domain}
EMAIL={q_email}
IMAGE={q_image}
PORT={port}

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get -y upgrade
apt-get install -y docker.io nginx certbot ufw
systemctl enable --now docker

# the firewall: SSH, HTTP and HTTPS only (the server's own port stays on loopback)
ufw default deny incoming
ufw default allow outgoing
ufw allow 22/tcp
ufw allow 80/tcp
ufw allow 443/tcp
ufw --force enable

# aiserve: restarted after a crash or a reboot, its database on a named volume, reachable only from this host
docker volume create aiserve-data
docker pull "$IMAGE"
docker rm -f aiserve >/dev/null 2>&1 || true
docker run -d --name aiserve --restart unless-stopped \\
  -p "127.0.0.1:$PORT:8000" -v aiserve-data:/data \\
  -e AISERVE_SERVER__TRUSTED_PROXIES='{trusted}' \\
  "$IMAGE"

# the certificate (standalone while nginx is stopped; renewals stop and start nginx the same way)
mkdir -p /var/www/certbot
systemctl stop nginx
certbot certonly --standalone --non-interactive --agree-tos -m "$EMAIL" -d "$DOMAIN" \\
  --pre-hook "systemctl stop nginx" --post-hook "systemctl start nginx"

# nginx in front: HTTP to HTTPS, TLS, forwarding headers, streaming (the site `aiserve deploy nginx` writes)
cat > /etc/nginx/sites-available/aiserve <<'SITE'
{site}SITE
ln -sf /etc/nginx/sites-available/aiserve /etc/nginx/sites-enabled/aiserve
rm -f /etc/nginx/sites-enabled/default
nginx -t
systemctl enable --now nginx
systemctl reload nginx

echo "waiting for aiserve to load its models..."
for _ in $(seq 1 60); do
  if curl -fsS "http://127.0.0.1:$PORT/ready" >/dev/null; then break; fi
  sleep 5
done
echo "the first admin key (shown once; keep it):"
docker exec aiserve cat /data/admin-key.txt
echo "done: https://$DOMAIN/v1/classify"
"""


@dataclass(frozen=True)
class Vm:
    """What the script needs."""

    domain: str
    email: str
    image: str
    port: int = 8000
    max_body_bytes: int = 8 * 1024 * 1024

    def __post_init__(self) -> None:
        checks.domain(self.domain)
        checks.email(self.email)
        checks.image(self.image)


def render_vm(vm: Vm, name: str = "provision.sh") -> str:
    """The provisioning script."""
    site = render(Site(domain=vm.domain, upstreams=[f"127.0.0.1:{vm.port}"], max_body_bytes=vm.max_body_bytes,
                       trusted=DOCKER_NETWORKS))  # fmt: skip
    return SCRIPT.format(domain=vm.domain, name=name, q_domain=shlex.quote(vm.domain), q_email=shlex.quote(vm.email),
                         q_image=shlex.quote(vm.image), port=vm.port, site=site, trusted=DOCKER_NETWORKS)  # fmt: skip
