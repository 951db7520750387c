"""/api/users and /api/keys (CONTRACT.md §8): an admin manages the tenant's people and keys.

Admins only (a session: keys never administer). Another tenant's ids answer 404. A new
role holds from the next request (the session's user is read afresh on each one). A
disabled or deleted user's sessions end at once, and their /ws sockets at the gateway's
next re-check (WS_RECHECK_S). An admin may not demote, disable or delete themselves nor
the tenant's last admin (409). A revoked or expired key is refused within 30 s (the
verified-key cache, app/web/auth.py). Every change is written to the audit log."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app.api.admin_models import KeyList, NewKey, UserAnswer, UserList
from app.api.bodies import json_body
from app.api.document import Body, Operation, documented
from app.api.verification import require_verified
from app.services import Services
from app.web.auth import Principal, principal, services, sessions
from data.domain.admin_requests import KeyRequest, UserChange, parse_key_request, parse_user_change
from data.stores.administration import Administration

bp = Blueprint("admin", __name__)
USER_CHANGE = Body(UserChange, optional="all", name="UserChange")


def _admin() -> tuple[Principal, str, Administration]:
    who = principal(role="admin")
    svc = services()
    actor = who.user.user_id if who.user else ""
    return who, actor, Administration(svc.accounts, svc.clock)


def end_access(svc: Services, user_id: str) -> None:
    """End every session of the user now; their sockets close at the next re-check."""
    sessions(svc).end_all(user_id)


@bp.get("/users")
@documented(Operation({200: UserList}))
def list_users() -> Response:
    """The tenant's users by username."""
    who, _, admin = _admin()
    return jsonify({"users": [u.as_dict() for u in admin.users(who.tenant_id)]})


@bp.put("/users/<user_id>")
@documented(Operation({200: UserAnswer}, body=USER_CHANGE, refusals=(404, 409)))
def update_user(user_id: str) -> Response:
    """Change a user's role or enable/disable them; fields left out keep their value.

    409: the change would demote or disable the caller or the tenant's last admin."""
    who, actor, admin = _admin()
    change = parse_user_change(json_body())
    user = admin.change_user(who.tenant_id, actor, user_id, change.role, change.active)
    if not user.active:
        end_access(services(), user_id)
    return jsonify(user.as_dict())


@bp.delete("/users/<user_id>")
@documented(Operation({204: None}, refusals=(404, 409)))
def delete_user(user_id: str) -> tuple[str, int]:
    """Delete a user and end their sessions; 409 for the caller or the last admin."""
    who, actor, admin = _admin()
    admin.delete_user(who.tenant_id, actor, user_id)
    end_access(services(), user_id)
    return "", 204


@bp.get("/keys")
@documented(Operation({200: KeyList}))
def list_keys() -> Response:
    """The tenant's API keys, newest first, with their last use; never a secret."""
    who, _, admin = _admin()
    return jsonify({"keys": [k.as_dict() for k in admin.keys(who.tenant_id)]})


@bp.post("/keys")
@documented(
    Operation(
        {201: NewKey},
        body=KeyRequest,
        links={"api.admin.revoke_key": "key_id"},
    )
)
def create_key() -> tuple[Response, int]:
    """Issue a key of a scope, expiring after `expires_in_days` (default 90, null: never).

    The answer holds the secret: it is shown this once and stored only hashed."""
    who, actor, admin = _admin()
    require_verified(who)
    request = parse_key_request(json_body())
    entry, secret = admin.create_key(
        who.tenant_id, actor, request.name, request.scope, request.expires_in_days
    )
    return jsonify({**entry.as_dict(), "secret": secret}), 201


@bp.delete("/keys/<key_id>")
@documented(Operation({204: None}, refusals=(404,)))
def revoke_key(key_id: str) -> tuple[str, int]:
    """Revoke a key: requests with it are refused within 30 s, its sockets closed."""
    who, actor, admin = _admin()
    admin.revoke_key(who.tenant_id, actor, key_id)
    return "", 204
