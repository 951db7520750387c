"""The rows of /api/dashboards in the permission matrix (CONTRACT.md §6; format as in
matrix_api.py). Every cell aims at a fresh dashboard of A analyst's, shared with tenant A,
so it is visible to every A user: the viewer reads and copies it but may not change it
(403), the owner and the admin may, keys read it with scope `read` and write nothing,
and tenant B's callers find nothing (404) where they may use the route at all.
"""

from __future__ import annotations

import uuid
from typing import Any

from data.domain.dashboards import Actor
from tests.security.matrix_api import Builder, Probe
from tests.security.matrix_world import A_MARK, World

# not A_METRIC: what B creates echoes its metric, which is no leak of A's
WIDGET = {
    "id": "cpu",
    "type": "line",
    "query": {"metric": ["matrix.throwaway"]},
    "layout": {"x": 0, "y": 0, "w": 6, "h": 4},
}


def shared_dashboard(world: World) -> tuple[str, str]:
    """A fresh shared dashboard of A analyst's: (id, title)."""
    owner = world.users["A analyst"]
    title = f"{A_MARK} board {uuid.uuid4().hex[:8]}"
    actor = Actor(world.tenant_a, owner.user_id, owner.role)
    doc = {"title": title, "shared": True, "widgets": [WIDGET]}
    board = world.services.dashboards.create(actor, doc)
    return board.dashboard_id, title


def _count(world: World, sql: str, **params: Any) -> int:
    return int(world.row(f"SELECT count(*) AS n FROM {sql}", **params).n)


def _read(template: str) -> Builder:
    """A GET of a path naming a shared dashboard of A's ({id})."""
    return lambda world, caller: Probe(template.format(id=shared_dashboard(world)[0]))


def create(world: World, caller: str) -> Probe:
    title = f"matrix new {uuid.uuid4().hex[:8]}"

    def after(allowed: bool) -> None:
        assert _count(world, "dashboards WHERE title = :t", t=title) == (1 if allowed else 0)

    return Probe("/api/dashboards", {"title": title, "widgets": [WIDGET]}, after)


def import_(world: World, caller: str) -> Probe:
    probe = create(world, caller)
    probe.path = "/api/dashboards/import"
    probe.body = {"schema_version": 2, **probe.body}
    return probe


def save(world: World, caller: str) -> Probe:
    dashboard_id, title = shared_dashboard(world)

    def after(allowed: bool) -> None:
        row = world.row("SELECT version FROM dashboards WHERE dashboard_id = :d", d=dashboard_id)
        assert (row.version == 2) == allowed

    body = {"title": f"{title} saved", "version": 1, "widgets": [WIDGET]}
    return Probe(f"/api/dashboards/{dashboard_id}", body, after)


def delete(world: World, caller: str) -> Probe:
    dashboard_id, _ = shared_dashboard(world)

    def after(allowed: bool) -> None:
        left = _count(world, "dashboards WHERE dashboard_id = :d", d=dashboard_id)
        assert left == (0 if allowed else 1)

    return Probe(f"/api/dashboards/{dashboard_id}", None, after)


def copy(world: World, caller: str) -> Probe:
    dashboard_id, title = shared_dashboard(world)

    def after(allowed: bool) -> None:
        copies = _count(world, "dashboards WHERE title = :t", t=f"Copy of {title}")
        assert copies == (1 if allowed else 0)

    return Probe(f"/api/dashboards/{dashboard_id}/copy", None, after)


def save_view(world: World, caller: str) -> Probe:
    dashboard_id, _ = shared_dashboard(world)

    def after(allowed: bool) -> None:
        views = _count(world, "dashboard_views WHERE dashboard_id = :d", d=dashboard_id)
        assert views == (1 if allowed else 0)

    body = {"time": {"start": "now-1h", "end": "now"}, "collapsed": ["cpu"]}
    return Probe(f"/api/dashboards/{dashboard_id}/view", body, after)


def clear_view(world: World, caller: str) -> Probe:
    """The caller's own view (a user of A's) or A viewer's (anyone else) is there first:
    only the caller's own is dropped."""
    dashboard_id, _ = shared_dashboard(world)
    mine = caller in world.users and world.users[caller].tenant_id == world.tenant_a
    holder = world.users[caller if mine else "A viewer"]
    actor = Actor(world.tenant_a, holder.user_id, holder.role)
    world.services.dashboards.save_view(actor, dashboard_id, {"collapsed": []})

    def after(allowed: bool) -> None:
        views = _count(world, "dashboard_views WHERE dashboard_id = :d", d=dashboard_id)
        assert views == (0 if allowed else 1)

    return Probe(f"/api/dashboards/{dashboard_id}/view", None, after)


def make_tenant_home(world: World, caller: str) -> Probe:
    dashboard_id, _ = shared_dashboard(world)

    def after(allowed: bool) -> None:
        homes = _count(world, "tenant_homes WHERE dashboard_id = :d", d=dashboard_id)
        assert homes == (1 if allowed else 0)

    return Probe(f"/api/dashboards/{dashboard_id}/tenant-home", None, after)


A, R, X = 200, 201, 204
# (method, rule) → (status per caller, the request). Columns, as CALLERS:
#   anon  A-viewer  A-analyst  A-admin  A-ingest  A-read  B-admin  B-read
DASHBOARDS: dict[tuple[str, str], tuple[tuple[int, ...], Builder]] = {
    ("GET", "/api/dashboards"): (
        (401, A, A, A, 403, A, A, A),
        lambda world, caller: Probe("/api/dashboards"),
    ),
    ("POST", "/api/dashboards"): ((401, R, R, R, 403, 403, R, 403), create),
    ("POST", "/api/dashboards/import"): ((401, R, R, R, 403, 403, R, 403), import_),
    ("GET", "/api/dashboards/<dashboard_id>"): (
        (401, A, A, A, 403, A, 404, 404),
        _read("/api/dashboards/{id}"),
    ),
    # a shared dashboard: its owner and admins change it; the viewer sees it, so 403
    ("PUT", "/api/dashboards/<dashboard_id>"): ((401, 403, A, A, 403, 403, 404, 403), save),
    ("DELETE", "/api/dashboards/<dashboard_id>"): ((401, 403, X, X, 403, 403, 404, 403), delete),
    ("POST", "/api/dashboards/<dashboard_id>/copy"): ((401, R, R, R, 403, 403, 404, 403), copy),
    ("GET", "/api/dashboards/<dashboard_id>/export"): (
        (401, A, A, A, 403, A, 404, 404),
        _read("/api/dashboards/{id}/export"),
    ),
    # a personal view is a user's: keys have none
    ("PUT", "/api/dashboards/<dashboard_id>/view"): (
        (401, A, A, A, 403, 403, 404, 403),
        save_view,
    ),
    ("DELETE", "/api/dashboards/<dashboard_id>/view"): (
        (401, A, A, A, 403, 403, 404, 403),
        clear_view,
    ),
    ("PUT", "/api/dashboards/<dashboard_id>/tenant-home"): (
        (401, 403, 403, X, 403, 403, 404, 403),
        make_tenant_home,
    ),
}
