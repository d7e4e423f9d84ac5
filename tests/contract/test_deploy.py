"""The deployment files agree with the server: compose services are health-checked and hold no secret; the
Kubernetes manifests are valid against the Kubernetes schemas (offline), probe the server's real paths and port,
and give a pod longer to stop than its drain takes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from aiserve.app import create_app
from aiserve.settings import Settings

pytestmark = pytest.mark.unit

DEPLOY = Path(__file__).parents[2] / "deploy"
K8S = DEPLOY / "k8s" / "base"
KUBERNETES = "1.33.0"
SECRET_NAMES = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$|DATABASE__URL|REDIS_URL", re.IGNORECASE)


def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def test_compose_services_are_health_checked_and_hold_no_secrets() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"aiserve", "postgres", "redis", "prometheus"}
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no healthcheck"
        for key in service.get("environment", {}):
            assert not SECRET_NAMES.search(key), f"{name} sets the secret {key} in compose.yaml"
    aiserve = services["aiserve"]
    assert aiserve["env_file"] == "aiserve.env"
    assert aiserve["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                     "redis": {"condition": "service_healthy"}}  # fmt: skip
    assert "aiserve-data:/data" in aiserve["volumes"]
    assert set(compose["volumes"]) >= {"aiserve-data", "postgres-data", "redis-data"}
    example = (DEPLOY / "aiserve.env.example").read_text()
    assert "change-me" in example  # placeholders only
    scrape = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())["scrape_configs"][0]
    assert scrape["metrics_path"] == "/metrics"
    assert scrape["static_configs"][0]["targets"] == ["aiserve:8000"]


def test_every_manifest_is_valid_kubernetes() -> None:
    docs = manifests()
    kinds = {doc["kind"] for doc in docs}
    assert kinds >= {"Deployment", "Service", "ConfigMap", "Secret", "HorizontalPodAutoscaler",
                     "PodDisruptionBudget"}  # fmt: skip
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert all((K8S / name).is_file() for name in listed)
    assert "secret.example.yaml" not in listed  # no secret is applied from git


def test_probes_and_ports_match_the_server_and_the_drain_fits() -> None:
    docs = {doc["kind"]: doc for doc in manifests()}
    config = docs["ConfigMap"]["data"]
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    paths = set(create_app(Settings()).openapi()["paths"])
    probes = {name: container[name]["httpGet"] for name in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"]["path"] == "/health"
    assert probes["readinessProbe"]["path"] == "/ready"
    assert all(probe["path"] in paths for probe in probes.values())
    assert container["ports"][0]["containerPort"] == int(config["AISERVE_SERVER__PORT"])
    assert all(probe["port"] == container["ports"][0]["name"] for probe in probes.values())
    drain = float(config["AISERVE_SERVER__GRACEFUL_SHUTDOWN_S"])
    pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] > pause + drain
    assert set(container["resources"]) == {"limits", "requests"}
    assert docs["Service"]["spec"]["ports"][0]["targetPort"] == "http"
    assert docs["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == docs["Deployment"]["metadata"]["name"]
