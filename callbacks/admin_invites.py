"""The invitations tab of /admin (components/admin_invites.py): invite, a new link,
revoke — admins only, within their own tenant; what any other caller sends does nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dash import ALL, Dash, Input, Output, State, no_update
from flask import request

from callbacks.binding import bind, clicked_id
from components import ids
from components.admin_invites import link_to_copy, pending_list, smtp_status
from data.domain.account_forms import INVITE_SUBJECT, InviteForm, parse_form
from data.domain.errors import DomainError, Invalid
from data.stores import account_links
from data.stores.accounts import User
from data.stores.email_verifications import UNVERIFIED, is_verified
from data.stores.invites import Invites
from data.stores.mail import mail_status

if TYPE_CHECKING:  # annotations only: callbacks never import a role of app
    from app.services import Services

ADMINS_ONLY = "Only admins manage invitations."
Shown = tuple[Any, Any, Any, str]


def invites_of(services: Services) -> Invites:
    """The invitation store, with INVITE_TTL_S."""
    return Invites(services.engine, services.settings.invite_ttl_s, services.clock)


def _act(services: Services, user: User, email: str | None, role: str | None) -> tuple[Any, str]:
    """Do what was clicked: (the link to show or no_update, the e-mail field's error)."""
    clicked = clicked_id()
    grows = clicked == ids.INVITES_SEND or (
        isinstance(clicked, dict) and clicked.get("type") == ids.INVITE_RESEND
    )
    if grows and not is_verified(services.engine, user.user_id):  # as POST /api/invites
        return no_update, UNVERIFIED
    store = invites_of(services)
    base = account_links.base_url(services.settings, request.host_url)
    if clicked == ids.INVITES_SEND:
        try:
            form = parse_form(
                InviteForm, {"email": (email or "").strip(), "role": role}, INVITE_SUBJECT
            )
        except Invalid as err:
            return no_update, "; ".join(d["message"] for d in err.details)
        made = account_links.invite(
            store, services.settings, user.tenant_id, form, user.user_id, base
        )
        return link_to_copy(made, form.email), ""
    if not isinstance(clicked, dict):
        return no_update, ""
    invite_id = str(clicked.get("index"))
    try:
        if clicked.get("type") == ids.INVITE_RESEND:
            made = account_links.resend(
                store, services.settings, user.tenant_id, invite_id, user.user_id, base
            )
            return link_to_copy(made, "the invited address"), ""
        if clicked.get("type") == ids.INVITE_REVOKE:
            store.revoke(user.tenant_id, invite_id, user.user_id)
    except DomainError:  # revoked or accepted meanwhile: the list below says so
        pass
    return no_update, ""


def show(
    services: Services,
    user: User,
    _send: Any,
    _resend: Any,
    _revoke: Any,
    email: str | None,
    role: str | None,
) -> Shown:
    """Act on a click (admins only), then show the SMTP status and the pending list."""
    if not user.may("admin"):
        return smtp_status(False, ADMINS_ONLY), "", "", ""
    result, email_error = _act(services, user, email, role)
    status = mail_status(services.settings)
    pending = [invite.as_dict() for invite in invites_of(services).pending(user.tenant_id)]
    return (
        smtp_status(status.configured, status.message),
        result,
        pending_list(pending),
        email_error,
    )


def register(app: Dash, services: Services) -> None:
    """Attach the invitations tab's callbacks to `app`."""
    app.callback(
        Output(ids.INVITES_SMTP, "children"),
        Output(ids.INVITES_RESULT, "children"),
        Output(ids.INVITES_LIST, "children"),
        Output(ids.INVITES_EMAIL_ERROR, "children"),
        Input(ids.INVITES_SEND, "n_clicks"),
        Input({"type": ids.INVITE_RESEND, "index": ALL}, "n_clicks"),
        Input({"type": ids.INVITE_REVOKE, "index": ALL}, "n_clicks"),
        State(ids.INVITES_EMAIL, "value"),
        State(ids.INVITES_ROLE, "value"),
    )(bind(show, services))
