"""Rows of the /api permission matrix for sign-up, invitations, password resets and e-mail
verification (CONTRACT.md §8). Invitations are an admin's, of their own tenant (another's
id is 404); the public routes answer every caller alike, the link's token being the
credential. A cell that signs its client in as someone new (accepting an invitation) puts
the caller back as it was, so the other cells still see the caller they expect."""

from __future__ import annotations

import uuid

from data.domain.account_forms import InviteForm
from data.stores.invites import Invites
from data.stores.password_resets import PasswordResets
from tests.conftest import PASSWORD
from tests.security.matrix_api import A, Builder, Probe, R, W, X
from tests.security.matrix_world import B_CALLERS, World


def _invites(world: World) -> Invites:
    return Invites(
        world.services.engine, world.services.settings.invite_ttl_s, world.services.clock
    )


def _tenant_of(world: World, caller: str) -> str:
    """The caller's own tenant, so what a public route answers never names A to B."""
    return world.tenant_b if caller in B_CALLERS else world.tenant_a


def _fresh_invite(world: World, tenant_id: str) -> tuple[str, str]:
    """A new pending invitation of the tenant: (id, token)."""
    form = InviteForm(email=f"mx-{uuid.uuid4().hex[:8]}@example.com", role="viewer")
    invite, token = _invites(world).create(tenant_id, form, None)
    return invite.invite_id, token


def _pending(world: World, invite_id: str) -> bool:
    return any(i.invite_id == invite_id for i in _invites(world).pending(world.tenant_a))


def _put_back(world: World, caller: str) -> None:
    """Sign the caller's client out of the account it just made, and back in as itself."""
    client = world.clients[caller]
    client.post("/logout")
    user = world.users.get(caller)
    if user is not None:
        resp = client.post("/login", json={"username": user.username, "password": PASSWORD})
        assert resp.status_code == 200


def create_invite(world: World, caller: str) -> Probe:
    email = f"mx-{uuid.uuid4().hex[:8]}@example.com"
    return Probe("/api/invites", {"email": email, "role": "viewer"})


def revoke_invite(world: World, caller: str) -> Probe:
    invite_id, _ = _fresh_invite(world, world.tenant_a)

    def after(allowed: bool) -> None:
        assert _pending(world, invite_id) != allowed

    return Probe(f"/api/invites/{invite_id}", None, after)


def resend_invite(world: World, caller: str) -> Probe:
    invite_id, token = _fresh_invite(world, world.tenant_a)

    def after(allowed: bool) -> None:
        with world.services.engine.connect() as conn:
            try:
                _invites(world).live_row(conn, token)
                old_link_lives = True
            except LookupError:
                old_link_lives = False
        assert old_link_lives != allowed

    return Probe(f"/api/invites/{invite_id}/resend", None, after)


def accept_invite(world: World, caller: str) -> Probe:
    _, token = _fresh_invite(world, _tenant_of(world, caller))

    def after(allowed: bool) -> None:
        assert (_invites(world).find(token) is None) == allowed
        _put_back(world, caller)

    username = f"mx-joined-{uuid.uuid4().hex[:8]}"
    return Probe(
        f"/api/invites/{token}/accept", {"username": username, "password": PASSWORD}, after
    )


def request_reset(world: World, caller: str) -> Probe:
    return Probe("/api/password-reset", {"email": f"nobody-{uuid.uuid4().hex[:8]}@example.com"})


def reset_password(world: World, caller: str) -> Probe:
    tenant_id = _tenant_of(world, caller)
    username = f"mx-reset-{uuid.uuid4().hex[:8]}"
    world.services.accounts.create_user(
        tenant_id, username, f"{username}@example.com", "viewer", PASSWORD
    )
    token = PasswordResets(world.services.engine, world.services.clock).issue_for(
        tenant_id, username
    )

    def after(allowed: bool) -> None:
        signed = world.services.accounts.authenticate(username, "reset-by-matrix")
        assert (signed is not None) == allowed

    return Probe(f"/api/password-reset/{token}", {"password": "reset-by-matrix"}, after)


def signup(world: World, caller: str) -> Probe:
    body = {"organisation": f"mx {uuid.uuid4().hex[:8]}", "username": f"mx-{uuid.uuid4().hex[:8]}"}
    return Probe("/api/signup", {**body, "email": "mx@example.com", "password": PASSWORD})


EVERYONE = 8  # columns, as matrix_world.CALLERS
# (method, rule) → (status per caller, the request). Columns, as CALLERS:
#   anon  A-viewer  A-analyst  A-admin  A-ingest  A-read  B-admin  B-read
ACCOUNTS: dict[tuple[str, str], tuple[tuple[int, ...], Builder]] = {
    ("POST", "/api/invites"): ((401, 403, 403, R, 403, 403, R, 403), create_invite),
    ("GET", "/api/invites"): (
        (401, 403, 403, A, 403, 403, A, 403),
        lambda world, caller: Probe("/api/invites"),
    ),
    ("DELETE", "/api/invites/<invite_id>"): (
        (401, 403, 403, X, 403, 403, 404, 403),
        revoke_invite,
    ),
    ("POST", "/api/invites/<invite_id>/resend"): (
        (401, 403, 403, R, 403, 403, 404, 403),
        resend_invite,
    ),
    # public: the link's token is the credential, whoever holds it
    ("POST", "/api/invites/<token>/accept"): ((R,) * EVERYONE, accept_invite),
    ("POST", "/api/password-reset"): ((W,) * EVERYONE, request_reset),
    ("POST", "/api/password-reset/<token>"): ((X,) * EVERYONE, reset_password),
    # a person's own: no SMTP server in the matrix's app, so there is no link to send (409)
    ("POST", "/api/me/verification"): (
        (401, 409, 409, 409, 403, 403, 409, 403),
        lambda world, caller: Probe("/api/me/verification", None),
    ),
    # SIGNUP_ENABLED is off in the matrix's app: the route is as absent for everyone
    ("POST", "/api/signup"): ((404,) * EVERYONE, signup),
}
