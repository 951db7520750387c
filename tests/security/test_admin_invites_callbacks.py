"""The invitations tab's callback payloads of the matrix do act for tenant A's admin (the
matrix's columns hold no admin of A: this is its proof that a refusal there is the guard's)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.services import Services
from tests.security.matrix_callbacks import CbProbe
from tests.security.matrix_invites_callbacks import ROWS
from tests.security.matrix_world import World, build_world

UPDATE = "/_dash-update-component"
ACTING = [(what, build) for what, _, build in ROWS["callbacks.admin_invites.show"][1:]]


@pytest.fixture(scope="module")
def world(services: Services) -> World:
    return build_world(services)


@pytest.mark.parametrize(("what", "build"), ACTING, ids=[w for w, _ in ACTING])
def test_the_payload_acts_for_a_admin(
    world: World, what: str, build: Callable[[World], CbProbe]
) -> None:
    probe = build(world)
    resp = world.clients["A admin"].post(UPDATE, json=probe.body)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert probe.changed(), what
