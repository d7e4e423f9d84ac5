"""Values bound for an nginx site or a shell script are checked before anything is written."""

from __future__ import annotations

import pytest

from aiserve.deploy.nginx import Site, render

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "site",
    [
        {"domain": "api.example.com;\n    location / { return 200; }"},
        {"domain": "api.example.com\n"},
        {"domain": "api.example.com", "upstreams": ["127.0.0.1:8000; include /etc/passwd"]},
        {"domain": "api.example.com", "listen_address": "0.0.0.0 default_server"},
        {"domain": "api.example.com", "certificate": "/etc/ssl/x.pem;\nssl_verify off"},
    ],
)
def test_a_site_refuses_values_that_would_add_directives(site: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be|expected"):
        Site(**site)  # type: ignore[arg-type]


def test_ordinary_values_render() -> None:
    text = render(Site(domain="api.example.com", upstreams=["aiserve:8000", "10.0.0.5:8000", "[::1]:9000"],
                       listen_address="10.8.0.1", certificate="/etc/ssl/aiserve/fullchain.pem"))  # fmt: skip
    assert "server_name api.example.com;" in text
    assert "server aiserve:8000 max_fails=3" in text
    assert "client_header_timeout 10s;" in text
