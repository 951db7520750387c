"""Schemathesis against the real app, from its own /api/openapi.json: every operation, with
valid and invalid inputs, answers no 5xx, only statuses it documents, bodies that conform
to the document's schemas, refuses what the document says is invalid and accepts what it
says is valid (within the expected statuses below), and refuses a request without its
credentials.

The caller is an admin of a fresh tenant, signed in (the session cookie is the document's
`session` scheme): no API key scope covers every route, an admin's session does. Examples
are bounded and derandomized, so a run is repeatable and short."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import uvicorn
from starlette.routing import Route

from app.services import Services
from tests.conftest import PASSWORD, _ServerThread, _wait_until, free_port
from tests.security.conftest import Counter

MAX_EXAMPLES = 20
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429"]
SEED = 20261202
LONG_POLL_WAIT_S = 0.2  # a poll with a live cursor waits this long here, not 25 s
# What a valid request may still be answered, beyond 2xx/401/403/404, where the document
# cannot say it: a point's time must lie in the retention window (relative to now), a rule
# kind needs its own parameters and a webhook a reachable host, a source an allowed target
# and a free name, a silence a time ahead; a long poll's patterns are limited in total.
CONTEXTUAL = {
    "/api/ingest": (422,),
    "/api/alerts": (409, 422),
    "/api/alerts/preview": (422,),
    "/api/alerts/{rule_id}": (422,),
    "/api/alerts/{rule_id}/silence": (422,),
    "/api/sources": (409, 422),
    "/api/sources/{source_id}": (409, 422),
    "/api/data": (422,),
    "/api/export": (422,),
    "/api/notifications": (422,),
    "/api/updates": (422,),
}


def _config(cookie: str) -> dict[str, object]:
    """schemathesis.toml, as JSON (a subset of TOML): every check, bounded and seeded."""
    operations = [
        {
            "include-path": path,
            "checks": {
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "401", "403", "404", *map(str, statuses)]
                }
            },
        }
        for path, statuses in CONTEXTUAL.items()
    ]
    # Over 10,000 points is refused with 413 before the points are read (CONTRACT §3).
    operations[0]["checks"]["negative_data_rejection"] = {"expected-statuses": [*REJECTIONS, "413"]}
    return {
        "seed": SEED,
        "workers": 1,
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "no-shrink": True,
            "database": "none",
        },
        "checks": {"enabled": True},
        "auth": {"openapi": {"session": {"api_key": cookie}}},
        "operations": operations,
    }


def _toml(value: object) -> str:
    return json.dumps(value)


def _write_config(path: Path, cookie: str) -> None:
    config = _config(cookie)
    lines = []
    for key in ("seed", "workers"):
        lines.append(f"{key} = {_toml(config[key])}")
    lines.append("[generation]")
    lines += [f"{k} = {_toml(v)}" for k, v in config["generation"].items()]  # type: ignore[attr-defined]
    lines += ["[checks]", "enabled = true"]
    lines += ["[auth.openapi.session]", f"api_key = {_toml(cookie)}"]
    for op in config["operations"]:  # type: ignore[attr-defined]
        lines += ["[[operations]]", f"include-path = {_toml(op['include-path'])}"]
        for check, options in op["checks"].items():
            statuses = options["expected-statuses"]
            lines.append(f"checks.{check}.expected-statuses = {_toml(statuses)}")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def server(services: Services) -> Iterator[str]:
    """The real ASGI app (pages, /api, /api/updates) on a port of its own."""
    from app.asgi import build_asgi

    asgi = build_asgi(services, stream=False)
    for route in asgi.starlette.routes:
        if isinstance(route, Route) and route.path == "/api/updates":
            route.endpoint.__self__.wait_s = LONG_POLL_WAIT_S  # type: ignore[attr-defined]
    port = free_port()
    config = uvicorn.Config(asgi, host="127.0.0.1", port=port, log_level="warning")
    uv = uvicorn.Server(config)
    thread = _ServerThread(uv)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    _wait_until(lambda: requests.get(url + "/healthz", timeout=1).ok, 20)
    yield url
    uv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def admin_cookie(server: str, services: Services) -> str:
    """The session cookie of an admin of a fresh tenant."""
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    name = f"admin-{uuid.uuid4().hex[:8]}"
    services.accounts.create_user(tenant, name, f"{name}@example.com", "admin", PASSWORD)
    http = requests.Session()
    resp = http.post(server + "/login", json={"username": name, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    return str(http.cookies["session"])


def test_api_conforms_to_its_document(
    server: str, admin_cookie: str, tmp_path: Path, fuzz_requests: Counter
) -> None:
    config = tmp_path / "schemathesis.toml"
    _write_config(config, admin_cookie)
    report = tmp_path / "report.json"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "--no-color",
        "run",
        server + "/api/openapi.json",
        "--report",
        "json,ndjson",
        "--report-json-path",
        str(report),
        "--report-ndjson-path",
        "/tmp/st-events.ndjson",
        "-H",
        f"Cookie: session={admin_cookie}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    print(done.stdout[-30000:])
    fuzz_requests.add(1)
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-3000:]


def test_a_path_no_route_takes_is_a_json_404(server: str, admin_cookie: str) -> None:
    """Starlette's catch-all takes no newline: such a path never reaches Flask (found by
    schemathesis as a text/plain 404 under /api/)."""
    resp = requests.put(
        server + "/api/sources/%0A", json={}, cookies={"session": admin_cookie}, timeout=10
    )
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"
