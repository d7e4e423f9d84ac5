"""`aiserve deploy nginx`: the nginx site that puts aiserve behind HTTPS."""

from __future__ import annotations

from typing import Annotated

import typer

from aiserve.cli.options import ConfigOpt, OutputOpt, settings_from

app = typer.Typer(
    help="Deployment recipes: an nginx site for HTTPS, a cloud VM provisioning script.", no_args_is_help=True
)


@app.command("nginx")
def nginx(
    domain: Annotated[str, typer.Option(help="The public name, e.g. api.example.com.")],
    upstream: Annotated[
        list[str] | None, typer.Option(help="HOST:PORT of a replica (repeatable; default 127.0.0.1:8000).")
    ] = None,
    output: OutputOpt = None,
    listen_address: Annotated[str | None, typer.Option(help="Bind only this address (default: all).")] = None,
    http_port: Annotated[int, typer.Option(help="Port for HTTP (redirects to HTTPS).")] = 80,
    https_port: Annotated[int, typer.Option(help="Port for HTTPS.")] = 443,
    certificate: Annotated[str | None, typer.Option(help="TLS certificate (default: Let's Encrypt's path).")] = None,
    certificate_key: Annotated[str | None, typer.Option(help="Its private key.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Print (or write) an nginx site: HTTP → HTTPS, the forwarding headers, streaming-safe proxying, the server's
    body limit, replicas with retries, and the certbot steps as comments."""
    from aiserve.deploy.nginx import Site, render

    settings = settings_from(config)
    site = Site(domain=domain, upstreams=upstream or ["127.0.0.1:8000"], max_body_bytes=settings.server.max_body_bytes,
                listen_address=listen_address, http_port=http_port, https_port=https_port, certificate=certificate,
                certificate_key=certificate_key)  # fmt: skip
    text = render(site)
    if output is None:
        print(text, end="")
        return
    output.write_text(text)
    print(f"wrote {output}; then: sudo nginx -t && sudo systemctl reload nginx")


@app.command("vm")
def vm(
    domain: Annotated[str, typer.Option(help="The public name, e.g. api.example.com (its DNS points at the VM).")],
    email: Annotated[str, typer.Option(help="For Let's Encrypt's expiry notices.")],
    image: Annotated[str, typer.Option(help="The aiserve image to run, e.g. ghcr.io/you/aiserve:0.1.0.")],
    output: OutputOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Print (or write) a provisioning script for a fresh Ubuntu LTS VM: updates, Docker, a 22/80/443 firewall,
    aiserve with a restart policy and its data volume, nginx and a Let's Encrypt certificate."""
    from aiserve.deploy.vm import Vm, render_vm

    settings = settings_from(config)
    name = output.name if output else "provision.sh"
    text = render_vm(Vm(domain=domain, email=email, image=image, max_body_bytes=settings.server.max_body_bytes), name)
    if output is None:
        print(text, end="")
        return
    output.write_text(text)
    output.chmod(0o755)
    print(f"wrote {output}; copy it to the VM and run: sudo bash {output.name}")
