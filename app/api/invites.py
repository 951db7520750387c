"""/api/invites (CONTRACT.md §8): an admin invites by e-mail with a role, lists, revokes
and resends; whoever holds a live link accepts it, becoming a user of the inviter's tenant
and signed in. Another tenant's invitation ids answer 404, as do used, revoked and expired
links."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from app.api.account_models import InviteLink, PendingInvites, SignedIn
from app.api.bodies import json_body
from app.api.document import Operation, documented
from app.api.verification import require_verified
from app.services import Services
from app.web.auth import Principal, principal, services
from app.web.sign_in import sign_in
from data.domain.account_forms import INVITE_SUBJECT, AcceptForm, InviteForm, parse_form
from data.stores import account_links
from data.stores.invites import Invites

bp = Blueprint("invites", __name__)
# what a created invitation's id feeds (OpenAPI links: clients and schemathesis follow them)
LINKS = {"api.invites.revoke": "invite_id", "api.invites.resend": "invite_id"}


def invites_of(svc: Services) -> Invites:
    """The invitation store on the app's database, with INVITE_TTL_S."""
    return Invites(svc.engine, svc.settings.invite_ttl_s, svc.clock)


def _admin() -> Principal:
    return principal(role="admin")


def _actor(who: Principal) -> str | None:
    return who.user.user_id if who.user else None


@bp.post("/invites")
@documented(Operation({201: InviteLink}, body=InviteForm, links=LINKS))
def create() -> tuple[Response, int]:
    """Invite an address with a role: the link, also mailed when SMTP is configured."""
    who = _admin()
    require_verified(who)
    form = parse_form(InviteForm, json_body(), INVITE_SUBJECT)
    svc = services()
    base = account_links.base_url(svc.settings, request.host_url)
    made = account_links.invite(
        invites_of(svc), svc.settings, who.tenant_id, form, _actor(who), base
    )
    return jsonify(made), 201


@bp.get("/invites")
@documented(Operation({200: PendingInvites}))
def pending() -> Response:
    """The tenant's pending invitations (never their links)."""
    who = _admin()
    found = invites_of(services()).pending(who.tenant_id)
    return jsonify({"invites": [invite.as_dict() for invite in found]})


@bp.delete("/invites/<invite_id>")
@documented(Operation({204: None}, refusals=(404,)))
def revoke(invite_id: str) -> tuple[str, int]:
    """Revoke a pending invitation: its link stops working at once."""
    who = _admin()
    invites_of(services()).revoke(who.tenant_id, invite_id, _actor(who))
    return "", 204


@bp.post("/invites/<invite_id>/resend")
@documented(Operation({201: InviteLink}, refusals=(404,)))
def resend(invite_id: str) -> tuple[Response, int]:
    """A new link for a pending invitation (the old one dies), mailed when possible."""
    who = _admin()
    require_verified(who)
    svc = services()
    base = account_links.base_url(svc.settings, request.host_url)
    renewed = account_links.resend(
        invites_of(svc), svc.settings, who.tenant_id, invite_id, _actor(who), base
    )
    return jsonify(renewed), 201


@bp.post("/invites/<token>/accept")
@documented(Operation({201: SignedIn}, body=AcceptForm, refusals=(404, 409), public=True))
def accept(token: str) -> tuple[Response, int]:
    """Accept an invitation: the user is created with its role, and signed in. Single use;
    404 once used, revoked or expired; 409 when the username is taken."""
    form = parse_form(AcceptForm, json_body())
    svc = services()
    user = invites_of(svc).accept(token, form)
    return jsonify(sign_in(svc, user)), 201
