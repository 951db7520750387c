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
import os
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
# and a free name, a silence a time ahead; a long poll's patterns are limited in total; a
# dashboard's widgets must fit the grid (x + w <= 12) and query a metric, a save carry the
# stored version, a view collapse widgets the dashboard has, an embed name a widget it has.
# The agents' formats (line protocol, remote write) take a key, never the session cookie
# this run signs in with: a cookie-carried write that is not JSON is a 415 (CSRF).
CONTEXTUAL = {
    "/api/ingest": (415, 422),
    "/api/v1/write": (415,),
    "/api/alerts": (409, 422),
    "/api/alerts/preview": (422,),
    "/api/alerts/{rule_id}": (422,),
    "/api/alerts/{rule_id}/silence": (422,),
    "/api/sources": (409, 422),
    "/api/sources/{source_id}": (409, 422),
    "/api/data": (422,),
    "/api/export": (422,),
    # too little history (or a metric of several sources and no source) is a 422
    "/api/forecast": (422,),
    "/api/forecast/band": (422,),
    "/api/notifications": (422,),
    "/api/updates": (422,),
    "/api/dashboards": (409, 422),
    "/api/dashboards/import": (409, 422),
    "/api/dashboards/{dashboard_id}": (409, 422),
    "/api/dashboards/{dashboard_id}/copy": (409,),
    "/api/dashboards/{dashboard_id}/view": (422,),
    "/api/embed-tokens": (422,),
    "/api/audit": (422,),  # a time or a cursor the document types as text only
    "/api/audit/export": (422,),
    # a key's name must hold a non-blank character; the caller cannot demote themselves
    "/api/keys": (422,),
    "/api/users/{user_id}": (409,),
    # account forms also refuse NUL and lone surrogates, which the patterns cannot say
    "/api/invites": (422,),
    "/api/invites/{token}/accept": (409, 422),
    "/api/password-reset": (422, 429),  # 429: the same address asked for too often
    "/api/password-reset/{token}": (422,),
    "/api/signup": (409, 422, 429),
    # the current password must be right; a zone must exist, a range parse; a tenant's home
    # must be shared
    "/api/me/password": (422,),
    "/api/me/preferences": (422,),
    "/api/tenant/preferences": (422,),
    "/api/dashboards/{dashboard_id}/tenant-home": (422,),
}


def _config(cookie: str) -> str:
    """schemathesis.toml: every check, seeded, bounded, as the admin's session cookie."""
    lines = [
        f"seed = {SEED}",
        "workers = 1  # one at a time: the same seed generates the same run",
        "[generation]",
        'mode = "all"  # valid and invalid inputs',
        f"max-examples = {MAX_EXAMPLES}",
        "deterministic = true",
        "no-shrink = true",
        'database = "none"',
        "[checks]",
        "enabled = true",
        "[auth.openapi.session]",
        f"api_key = {json.dumps(cookie)}",
    ]
    for path, statuses in CONTEXTUAL.items():
        accepted = ["2xx", "401", "403", "404", *map(str, statuses)]
        lines += [
            "[[operations]]",
            f"include-path = {json.dumps(path)}",
            f"checks.positive_data_acceptance.expected-statuses = {json.dumps(accepted)}",
        ]
        if path == "/api/ingest":  # over 10,000 points: 413 before they are read (CONTRACT §3)
            refused = [*REJECTIONS, "413"]
            lines.append(
                f"checks.negative_data_rejection.expected-statuses = {json.dumps(refused)}"
            )
    return "\n".join(lines) + "\n"


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
    # The document is read here, with the cookie: given to the run as a header, the cookie
    # would go with every request and the ignored_auth check could not take it away.
    doc = requests.get(server + "/api/openapi.json", cookies={"session": admin_cookie}, timeout=10)
    assert doc.status_code == 200
    (tmp_path / "openapi.json").write_bytes(doc.content)
    (tmp_path / "schemathesis.toml").write_text(_config(admin_cookie))
    report = tmp_path / "report.json"
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--no-color"),
        *("--config-file", str(tmp_path / "schemathesis.toml")),
        *("run", str(tmp_path / "openapi.json"), "--url", server),
        *("--report", "json", "--report-json-path", str(report)),
    ]
    # run in tmp_path: schemathesis keeps a cache folder in its working directory
    hooks = {"SCHEMATHESIS_HOOKS": str(Path(__file__).with_name("schemathesis_hooks.py"))}
    done = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=os.environ | hooks,
    )
    print(done.stdout[-30000:])
    assert done.returncode == 0, done.stdout[-30000:] + done.stderr[-3000:]
    summary = json.loads(report.read_text())
    fuzz_requests.add(summary["test_cases"]["generated"])
    operations = sum(len(methods) for methods in doc.json()["paths"].values())
    assert summary["operations"]["tested"] == operations
    assert summary["failures"] == [] and summary["errors"] == []


def test_a_path_no_route_takes_is_a_json_404(server: str, admin_cookie: str) -> None:
    """Starlette's catch-all takes no newline: such a path never reaches Flask (found by
    schemathesis as a text/plain 404 under /api/)."""
    resp = requests.put(
        server + "/api/sources/%0A", json={}, cookies={"session": admin_cookie}, timeout=10
    )
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"
