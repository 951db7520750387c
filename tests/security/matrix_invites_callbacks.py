"""Rows of the Dash callback matrix for the invitations tab of /admin: admins only, so
no caller of the matrix's columns (anonymous, A viewer, A analyst, B admin) changes A's
invitations; tests/security/test_admin_invites_callbacks.py proves the same payloads do
act for A's admin."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from components import ids
from data.domain.account_forms import InviteForm
from data.stores.invites import Invites
from tests.security.matrix_callbacks import CbProbe, payload
from tests.security.matrix_world import World

NAME = "callbacks.admin_invites.show"


def _invites(world: World) -> Invites:
    svc = world.services
    return Invites(svc.engine, svc.settings.invite_ttl_s, svc.clock)


def _pending_emails(world: World) -> set[str]:
    return {invite.email for invite in _invites(world).pending(world.tenant_a)}


def list_invites(world: World) -> CbProbe:
    body = payload(world, NAME, {}, [(ids.INVITES_SEND, "n_clicks")])
    return CbProbe(body)


def invite_into_a(world: World) -> CbProbe:
    email = f"mx-cb-{uuid.uuid4().hex[:8]}@example.com"
    values = {
        (ids.INVITES_SEND, "n_clicks"): 1,
        (ids.INVITES_EMAIL, "value"): email,
        (ids.INVITES_ROLE, "value"): "admin",
    }
    body = payload(world, NAME, values, [(ids.INVITES_SEND, "n_clicks")])
    return CbProbe(body, lambda: email in _pending_emails(world))


def _click_on(kind: str, changed: Callable[[World, str, str], bool]) -> Callable[[World], CbProbe]:
    def build(world: World) -> CbProbe:
        email = f"mx-cb-{uuid.uuid4().hex[:8]}@example.com"
        invite, token = _invites(world).create(
            world.tenant_a, InviteForm(email=email, role="viewer"), None
        )
        values: dict[tuple[str, str], Any] = {(kind, "n_clicks"): [(invite.invite_id, 1)]}
        body = payload(
            world, NAME, values, [({"type": kind, "index": invite.invite_id}, "n_clicks")]
        )
        return CbProbe(body, lambda: changed(world, email, token))

    return build


def _revoked(world: World, email: str, token: str) -> bool:
    return email not in _pending_emails(world)


def _renewed(world: World, email: str, token: str) -> bool:
    return _invites(world).find(token) is None and email in _pending_emails(world)


revoke_a_invite = _click_on(ids.INVITE_REVOKE, _revoked)
resend_a_invite = _click_on(ids.INVITE_RESEND, _renewed)
OK = "ok"
ROWS: dict[str, list[tuple[str, tuple[Any, ...], Callable[[World], CbProbe]]]] = {
    NAME: [
        ("list invitations", (401, OK, OK, OK), list_invites),
        ("invite into A", (401, OK, OK, OK), invite_into_a),
        ("revoke A's invitation", (401, OK, OK, OK), revoke_a_invite),
        ("renew A's invitation", (401, OK, OK, OK), resend_a_invite),
    ]
}
