"""compose.yaml and the Dockerfile: valid against the Compose Specification's JSON schema
(the copy vendored in check-jsonschema, offline), and wired as Pulse's roles need."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest
from check_jsonschema.builtin_schemas import get_builtin_schema

from tests.deploy.support import COMPOSE, DOCKERFILE, ROLES, ROOT, documents, resource

PULSE_SERVICES = {
    "web-1": "web",
    "web-2": "web",
    "stream-1": "stream",
    "stream-2": "stream",
    "worker": "worker",
}


def compose() -> dict[str, Any]:
    """compose.yaml with its YAML anchors and merge keys resolved, as docker compose reads it."""
    [doc] = documents(COMPOSE)
    return doc


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    schema = get_builtin_schema("vendor.compose-spec")
    validator = jsonschema.Draft202012Validator(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose())]
    assert errors == []


def test_the_schema_check_catches_a_misspelled_service_key() -> None:
    broken = compose()
    broken["services"]["web-1"]["helthcheck"] = broken["services"]["web-1"].pop("healthcheck")
    validator = jsonschema.Draft202012Validator(get_builtin_schema("vendor.compose-spec"))
    assert any("helthcheck" in e.message for e in validator.iter_errors(broken))


def test_two_of_each_role_from_one_image_on_shared_settings() -> None:
    services = compose()["services"]
    assert set(services) == {*PULSE_SERVICES, "nginx", "postgres", "redis"}
    for name, role in PULSE_SERVICES.items():
        service = services[name]
        assert service["command"] == [role]
        assert service["image"] == "pulse:latest" and service["build"] == "."
        env = service["environment"]
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")  # one key, required
        assert "@postgres:5432/" in env["DATABASE_URL"] and env["REDIS_URL"].startswith(
            "redis://redis:"
        )
        for store in ("postgres", "redis"):
            assert service["depends_on"][store] == {"condition": "service_healthy"}
    assert services["worker"]["deploy"]["replicas"] == 2


@pytest.mark.parametrize(("name", "path"), [("web-1", "/readyz"), ("stream-1", "/readyz")])
def test_web_and_stream_health_is_checked_on_what_they_serve(name: str, path: str) -> None:
    test = compose()["services"][name]["healthcheck"]["test"]
    assert f"http://127.0.0.1:8050{path}" in " ".join(test)


def test_nginx_waits_for_healthy_web_and_stream_and_is_the_only_trusted_proxy() -> None:
    services = compose()["services"]
    nginx = services["nginx"]
    assert nginx["depends_on"] == {
        name: {"condition": "service_healthy"} for name in PULSE_SERVICES if name != "worker"
    }
    [mount] = nginx["volumes"]
    source, target, _ = mount.split(":")
    assert (ROOT / source).is_file() and target == "/etc/nginx/conf.d/default.conf"
    address = nginx["networks"]["pulse"]["ipv4_address"]
    assert services["web-1"]["environment"]["FORWARDED_ALLOW_IPS"] == address


def test_the_image_installs_the_lock_and_runs_as_non_root() -> None:
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    assert "pip install -r requirements.lock" in dockerfile
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and uid != "0"  # numeric, so that runAsNonRoot can check it
    for role in ROLES:
        pod = resource("Deployment", f"pulse-{role}")["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == int(uid)
    copied = set(re.findall(r"^COPY (\S+) ", dockerfile, re.MULTILINE))
    # every folder the product imports or serves, and nothing that does not exist
    assert {"app.py", "app", "data", "components", "callbacks", "assets"} <= copied
    assert all((ROOT / path).exists() for path in copied)
