"""deploy/k8s: every manifest valid against the Kubernetes API's own schemas (offline, the
schemas shipped in the kubernetes-validate package), and shaped as Pulse's roles need."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.support import (
    K8S,
    ROLES,
    container,
    documents,
    manifest_files,
    resource,
    resources,
)

# The oldest Kubernetes the manifests claim (autoscaling/v2 and policy/v1 PDBs are GA
# since 1.23/1.21; 1.30 is the oldest minor still maintained by the project at writing),
# and the newest the package ships.
VERSIONS = ("1.30.0", kubernetes_validate.latest_version())


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: p.name)
def test_every_manifest_is_valid_against_the_kubernetes_schemas(path: Path, version: str) -> None:
    """Strict: an unknown or misspelled field fails, not only a missing or mistyped one."""
    for doc in documents(path):
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validation_catches_a_misspelled_field() -> None:
    deployment = copy.deepcopy(resource("Deployment", "pulse-web"))
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    probe["httpGett"] = probe.pop("httpGet")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest_and_names_the_image() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    assert sorted(kustomization["resources"]) == [p.name for p in manifest_files()]
    images = {image["name"] for image in kustomization["images"]}
    assert {container(role)["image"] for role in ROLES} == images == {"pulse"}


@pytest.mark.parametrize("role", ROLES)
def test_each_role_runs_its_command_as_non_root_with_requests_and_limits(role: str) -> None:
    deployment = resource("Deployment", f"pulse-{role}")
    pod = deployment["spec"]["template"]["spec"]
    assert container(role)["args"] == [role]
    assert pod["securityContext"]["runAsNonRoot"] is True
    for kind in ("requests", "limits"):
        assert set(container(role)["resources"][kind]) == {"cpu", "memory"}
    env_from = container(role)["envFrom"]
    assert {"configMapRef": {"name": "pulse-settings"}} in env_from
    assert {"secretRef": {"name": "pulse-secrets"}} in env_from
    assert deployment["spec"]["replicas"] >= 2


def _probe_path(probe: dict[str, Any], ports: list[dict[str, Any]]) -> str:
    """The path of an HTTP probe, checking that it targets a port the container declares."""
    assert probe["httpGet"]["port"] in {p["name"] for p in ports}
    return str(probe["httpGet"]["path"])


@pytest.mark.parametrize(
    ("role", "readiness"),
    # Both serve /readyz (app/asgi.py): 503 while draining after SIGTERM.
    [("web", "/readyz"), ("stream", "/readyz")],
)
def test_web_and_stream_are_probed_on_what_they_serve(role: str, readiness: str) -> None:
    spec = container(role)
    assert [p["containerPort"] for p in spec["ports"]] == [8050]  # PORT in pulse-settings
    assert _probe_path(spec["readinessProbe"], spec["ports"]) == readiness
    assert _probe_path(spec["livenessProbe"], spec["ports"]) == "/healthz"
    assert resource("ConfigMap", "pulse-settings")["data"]["PORT"] == "8050"


def test_the_worker_has_no_port_no_http_probe_and_no_service() -> None:
    spec = container("worker")
    assert "ports" not in spec
    assert not {"readinessProbe", "livenessProbe"} & set(spec)
    services = [r["metadata"]["name"] for r in resources() if r["kind"] == "Service"]
    assert sorted(services) == ["pulse-stream", "pulse-web"]


@pytest.mark.parametrize("role", ROLES)
def test_each_role_has_a_disruption_budget_and_services_select_its_pods(role: str) -> None:
    labels = resource("Deployment", f"pulse-{role}")["spec"]["template"]["metadata"]["labels"]
    selector = resource("PodDisruptionBudget", f"pulse-{role}")["spec"]["selector"]
    assert selector["matchLabels"].items() <= labels.items()
    if role != "worker":
        service = resource("Service", f"pulse-{role}")["spec"]
        assert service["selector"].items() <= labels.items()
        assert service["ports"][0]["targetPort"] == "http"


@pytest.mark.parametrize("role", ["web", "stream"])
def test_web_and_stream_scale_on_cpu(role: str) -> None:
    hpa = resource("HorizontalPodAutoscaler", f"pulse-{role}")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": f"pulse-{role}",
    }
    assert hpa["spec"]["minReplicas"] >= 2
    [metric] = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    requests = container(role)["resources"]["requests"]
    assert "cpu" in requests  # utilisation is a share of the request: without one, no scaling


def test_ingress_sends_ws_to_the_stream_role_with_long_timeouts_and_the_rest_to_web() -> None:
    stream = resource("Ingress", "pulse-stream")
    web = resource("Ingress", "pulse-web")
    [ws_path] = stream["spec"]["rules"][0]["http"]["paths"]
    [web_path] = web["spec"]["rules"][0]["http"]["paths"]
    assert (ws_path["path"], ws_path["backend"]["service"]["name"]) == ("/ws", "pulse-stream")
    assert (web_path["path"], web_path["backend"]["service"]["name"]) == ("/", "pulse-web")
    notes = stream["metadata"]["annotations"]
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(notes[f"nginx.ingress.kubernetes.io/{timeout}"]) >= 3600
    for ingress in (stream, web):
        assert ingress["spec"]["ingressClassName"] == "nginx"
        annotations = ingress["metadata"]["annotations"]
        assert not any("affinity" in name for name in annotations)  # no sticky sessions
