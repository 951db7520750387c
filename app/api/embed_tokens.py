"""/api/embed-tokens (CONTRACT.md §7): mint, list and revoke the signed tokens that open
`/embed/<token>` in another site's iframe.

Analysts and admins (a session), or an API key of scope `embed` (a server minting for its
own pages), may use them; a viewer or another key's scope gets 403. The resource must be a
dashboard of the caller's tenant the caller sees (a key sees every dashboard of its tenant),
and a widget it has: anything else is 404, another tenant's included. Another tenant's jti
is 404 too.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app.api.bodies import json_body
from app.web.auth import Principal, principal, services
from app.web.embed import embed_tokens
from data.domain.dashboards import Actor, DashboardSpec
from data.domain.embeds import EmbedResource, new_claims, parse_embed_request, resource_widgets

bp = Blueprint("embed_tokens", __name__)


def _caller() -> Principal:
    return principal(scope="embed", role="analyst")


def _spec_for(who: Principal, resource: EmbedResource) -> DashboardSpec:
    """The dashboard the resource names, as the caller may see it; NotFound otherwise."""
    if who.user is not None:
        actor = Actor(who.tenant_id, who.user.user_id, who.user.role)
        return services().dashboards.get(actor, resource.dashboard_id).spec
    return embed_tokens().dashboard_spec(who.tenant_id, resource.dashboard_id)


@bp.post("/embed-tokens")
def create() -> tuple[Response, int]:
    """Mint a token for a dashboard or one widget of it, with locked source filters."""
    who = _caller()
    resource, ttl_s, sources = parse_embed_request(json_body())
    resource_widgets(_spec_for(who, resource), resource)  # NotFound: no such widget
    tokens = embed_tokens()
    claims = new_claims(who.tenant_id, resource, sources, ttl_s, tokens.clock())
    minted = tokens.mint(
        claims,
        who.user.user_id if who.user else None,
        who.key.key_id if who.key else None,
    )
    return jsonify(minted.as_dict()), 201


@bp.get("/embed-tokens")
def live() -> Response:
    """The tenant's live tokens, without the tokens themselves."""
    who = _caller()
    return jsonify({"embed_tokens": embed_tokens().live(who.tenant_id)})


@bp.delete("/embed-tokens/<jti>")
def revoke(jti: str) -> tuple[str, int]:
    """Revoke one token: its pages and sockets stop within seconds."""
    who = _caller()
    embed_tokens().revoke(who.tenant_id, jti, who.user.user_id if who.user else None)
    return "", 204
