"""The invitations tab's callback payloads of the matrix do act for tenant A's admin (the
matrix's columns hold no admin of A: this is its proof that a refusal there is the guard's)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, update

from app.services import Services
from data.stores.email_verifications import EmailVerifications
from data.stores.schema import users
from tests.security.matrix_callbacks import CbProbe
from tests.security.matrix_invites_callbacks import ROWS, invite_into_a, resend_a_invite
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


def test_an_unverified_admin_may_not_invite_from_the_page(world: World) -> None:
    """As POST /api/invites: inviting waits until the admin's address is proven."""
    admin = world.users["A admin"]
    services = world.services
    with services.engine.begin() as conn:
        EmailVerifications(services.engine, services.clock).unverify(
            conn, admin.user_id, admin.email
        )
    try:
        for build in (invite_into_a, resend_a_invite):
            probe = build(world)
            resp = world.clients["A admin"].post(UPDATE, json=probe.body)
            assert resp.status_code == 200 and "confirm your e-mail" in resp.get_data(as_text=True)
            assert not probe.changed()
    finally:
        with services.engine.begin() as conn:
            conn.execute(
                update(users)
                .where(users.c.user_id == admin.user_id)
                .values(email_verified_at=func.now())
            )
