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
from app.api.dashboard_models import EmbedToken, LiveEmbedTokens
from app.api.document import Operation, documented
from app.web.auth import Principal, principal, services
from app.web.embed import embed_tokens
from data.domain.dashboards import Actor, DashboardSpec
from data.domain.embeds import (
    EmbedRequest,
    EmbedResource,
    parse_embed_request,
)

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
@documented(Operation({201: EmbedToken}, body=EmbedRequest, refusals=(404,)))
def create() -> tuple[Response, int]:
    """Mint a token for a dashboard or one widget of it, with locked source filters.

    The token is shown once. 404: no such dashboard the caller sees, or no such widget
    on it; a widget embed names its `widget_id`, a dashboard embed none (422)."""
    who = _caller()
    resource, ttl_s, sources = parse_embed_request(json_body())
    minted = embed_tokens().issue(
        _spec_for(who, resource),
        who.tenant_id,
        resource,
        sources,
        ttl_s,
        (who.user.user_id if who.user else None, who.key.key_id if who.key else None),
    )
    return jsonify(minted.as_dict()), 201


@bp.get("/embed-tokens")
@documented(Operation({200: LiveEmbedTokens}))
def live() -> Response:
    """The tenant's live tokens, without the tokens themselves."""
    who = _caller()
    return jsonify({"embed_tokens": embed_tokens().live(who.tenant_id)})


@bp.delete("/embed-tokens/<jti>")
@documented(Operation({204: None}, refusals=(404,)))
def revoke(jti: str) -> tuple[str, int]:
    """Revoke one token: its pages and sockets stop within seconds."""
    who = _caller()
    embed_tokens().revoke(who.tenant_id, jti, who.user.user_id if who.user else None)
    return "", 204
