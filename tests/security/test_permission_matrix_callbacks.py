"""Every Dash callback, posted straight to /_dash-update-component as `matrix_callbacks`
builds it, × anonymous, A viewer, A analyst and B admin: anonymous runs nothing (401), a
viewer writes nothing, B neither reads nor changes A's objects; the database is checked
after each request. A callback without a row in the matrix fails the run."""

from __future__ import annotations

from typing import Any

import pytest

from app.services import Services
from tests.security.matrix_callbacks import (
    CALLBACKS,
    CB_CALLERS,
    CLIENTSIDE,
    DOES,
    callback_names,
)
from tests.security.matrix_invites_callbacks import ROWS as INVITES_ROWS
from tests.security.matrix_world import A_MARK, World, build_world

UPDATE = "/_dash-update-component"
CALLBACKS = {**CALLBACKS, **INVITES_ROWS}  # it imports matrix_callbacks: added here
CELLS = [
    (name, what, caller)
    for name, rows in CALLBACKS.items()
    for what, *_ in rows
    for caller in CB_CALLERS
]


@pytest.fixture(scope="module")
def world(services: Services) -> World:
    """Tenants A and B, their callers and A's objects (matrix_world.py)."""
    return build_world(services)


def test_every_callback_has_a_row_in_the_matrix(world: World) -> None:
    names = set(callback_names(world.app))
    server = {n for n in names if not n.startswith("clientside ")}
    assert server and server == CALLBACKS.keys(), "server callbacks ≠ rows of CALLBACKS"
    assert names - server == set(CLIENTSIDE), "clientside callbacks ≠ CLIENTSIDE"


def _row(name: str, what: str) -> tuple[tuple[Any, ...], Any]:
    return next((expected, build) for label, expected, build in CALLBACKS[name] if label == what)


@pytest.mark.parametrize(
    ("name", "what", "caller"), CELLS, ids=[f"{n} {w} as {c}" for n, w, c in CELLS]
)
def test_cell(world: World, name: str, what: str, caller: str) -> None:
    expected_answers, build = _row(name, what)
    expected = expected_answers[CB_CALLERS.index(caller)]
    probe = build(world)
    resp = world.clients[caller].post(UPDATE, json=probe.body)
    text = resp.get_data(as_text=True)
    if expected == 401:
        assert resp.status_code == 401, text[:300]
    else:
        assert resp.status_code in (200, 204), text[:300]
        probe.check(caller, resp.get_json() if resp.status_code == 200 else {})
    assert probe.changed() == (expected == DOES), f"{what} as {caller}: {text[:300]}"
    if caller.startswith("B "):
        for secret in (world.tenant_a, f"{A_MARK}-"):
            assert secret not in text, f"tenant A's data shown to B: {text[:300]}"


@pytest.mark.parametrize("name", CLIENTSIDE)
def test_clientside_callback_posted_to_the_server_is_refused(world: World, name: str) -> None:
    """Clientside callbacks run in the browser: the server refuses them (4xx, not a 500)."""
    key = callback_names(world.app)[name]
    body = {"output": key, "outputs": [], "inputs": [], "state": [], "changedPropIds": []}
    assert world.clients["anonymous"].post(UPDATE, json=body).status_code == 401
    resp = world.clients["A viewer"].post(UPDATE, json=body)
    assert 400 <= resp.status_code < 500, resp.get_data(as_text=True)[:300]
    assert resp.get_json()["error"]["code"]
