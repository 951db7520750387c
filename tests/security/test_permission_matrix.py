"""Every /api route × every kind of caller answers as `matrix_api.MATRIX` says (CONTRACT.md
§2-3): 401 without credentials, 403 for a role or key scope below the route's, 404 for
another tenant's object (never its data), and a 2xx that really did the write where the
caller may. A route registered without a row in the matrix fails the run."""

from __future__ import annotations

import pytest

from app.services import Services
from tests.security import matrix_api
from tests.security.matrix_accounts import ACCOUNTS
from tests.security.matrix_admin import ADMIN
from tests.security.matrix_dashboards import DASHBOARDS, shared_dashboard
from tests.security.matrix_me import ME
from tests.security.matrix_world import A_MARK, B_CALLERS, CALLERS, World, build_world

MATRIX = {**matrix_api.MATRIX, **DASHBOARDS, **ME, **ADMIN, **ACCOUNTS}
CELLS = [(route, caller) for route in MATRIX for caller in CALLERS]


@pytest.fixture(scope="module")
def world(services: Services) -> World:
    """Tenants A and B, their callers and A's objects (matrix_world.py)."""
    return build_world(services)


def api_routes(world: World) -> set[tuple[str, str]]:
    """(method, rule) of every /api route the app registers."""
    rules = world.app.server.url_map.iter_rules()
    return {
        (method, rule.rule)
        for rule in rules
        if rule.rule.startswith("/api/")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }


def test_every_api_route_has_a_row_in_the_matrix(world: World) -> None:
    registered = api_routes(world)
    assert registered, "no /api route found in the url_map"
    assert registered - MATRIX.keys() == set(), "routes without a row in matrix_api.MATRIX"
    assert MATRIX.keys() - registered == set(), "rows for routes that no longer exist"
    assert all(len(expected) == len(CALLERS) for expected, _ in MATRIX.values())


@pytest.mark.parametrize(("route", "caller"), CELLS, ids=[f"{m} {r} as {c}" for (m, r), c in CELLS])
def test_cell(world: World, route: tuple[str, str], caller: str) -> None:
    expected_statuses, build = MATRIX[route]
    expected = expected_statuses[CALLERS.index(caller)]
    probe = build(world, caller)
    method = route[0]
    if probe.raw is not None:
        sent: dict = {"data": probe.raw, "headers": world.headers(caller) | (probe.headers or {})}
    else:
        sent = {"json": probe.body if method != "GET" else None, "headers": world.headers(caller)}
    resp = world.clients[caller].open(probe.path, method=method, **sent)
    body = resp.get_data(as_text=True)
    assert resp.status_code == expected, f"{method} {probe.path} as {caller}: {body[:300]}"
    if caller in B_CALLERS:
        assert A_MARK not in body and world.tenant_a not in body, f"tenant A's data: {body[:300]}"
    if expected >= 400:
        assert resp.get_json()["error"]["code"], body[:300]
    probe.after(expected < 400)


def test_a_callers_do_see_their_tenant_objects_in_lists(world: World) -> None:
    """The B checks above are meaningful: the same lists do show A's objects to A."""
    shared_dashboard(world)
    for path, caller in [
        ("/api/alerts", "A viewer"),
        ("/api/incidents", "A read key"),
        ("/api/sources", "A admin"),
        ("/api/metrics", "A read key"),
        ("/api/notifications", "A analyst"),
        ("/api/dead-letters", "A admin"),
        (matrix_api.AUDIT, "A admin"),
        (matrix_api.AUDIT_CSV, "A admin"),
        ("/api/dashboards", "A read key"),
        ("/api/dashboards", "A viewer"),
        (f"/api/data?metric={A_MARK}.cpu&start=now-1h", "A viewer"),
    ]:
        resp = world.clients[caller].get(path, headers=world.headers(caller))
        assert resp.status_code == 200 and A_MARK in resp.get_data(as_text=True), path
