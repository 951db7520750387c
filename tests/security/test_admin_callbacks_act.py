"""The /admin rows of the callback matrix, posted by tenant A's own admin: each one acts
(so the matrix's "nothing changed" for the other callers is the guard's doing, not a
malformed request), and each confirm dialog names what it would remove."""

from __future__ import annotations

from typing import Any

import pytest

from app.services import Services
from tests.security.matrix_admin_callbacks import ROWS
from tests.security.matrix_world import World, build_world

UPDATE = "/_dash-update-component"
ACTING = [
    (name, what, build)
    for name, rows in ROWS.items()
    for what, _, build in rows
    if not name.endswith(("ask_delete", "ask_revoke", "open_form"))
]


@pytest.fixture(scope="module")
def world(services: Services) -> World:
    return build_world(services)


@pytest.mark.parametrize(("name", "what", "build"), ACTING, ids=[w for _, w, _ in ACTING])
def test_as_a_admin_the_callback_acts(world: World, name: str, what: str, build: Any) -> None:
    probe = build(world)
    resp = world.clients["A admin"].post(UPDATE, json=probe.body)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert probe.changed(), f"{what}: A's admin changed nothing"


@pytest.mark.parametrize(
    "name", ["callbacks.admin_users.ask_delete", "callbacks.admin_keys.ask_revoke"]
)
def test_as_a_admin_the_confirm_dialog_names_the_target(world: World, name: str) -> None:
    _, _, build = ROWS[name][0]
    probe = build(world)
    answer = world.clients["A admin"].post(UPDATE, json=probe.body).get_json()
    shown = str(answer["response"])
    assert "'is_open': True" in shown and "matrixsecret-" in shown
