"""What the deployment tests share: the artefacts' paths and YAML loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
NGINX = DEPLOY / "nginx"
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
ROLES = ("web", "stream", "worker")


def documents(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of `path`, empty ones left out."""
    with path.open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def manifest_files() -> list[Path]:
    """Every Kubernetes manifest of deploy/k8s (kustomization.yaml is kustomize's own)."""
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def resources() -> list[dict[str, Any]]:
    """Every Kubernetes object the manifests declare."""
    return [doc for path in manifest_files() for doc in documents(path)]


def resource(kind: str, name: str) -> dict[str, Any]:
    """The one object of this kind and name."""
    found = [r for r in resources() if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def container(role: str) -> dict[str, Any]:
    """The container of the role's Deployment."""
    pod = resource("Deployment", f"pulse-{role}")["spec"]["template"]["spec"]
    assert len(pod["containers"]) == 1
    return dict(pod["containers"][0])
