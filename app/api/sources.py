"""/api/sources: the tenant's polled sources with their health (admins only).

Another tenant's source answers 404. A bad definition answers 422 with one detail per
field (`{"field": "config.url", "message": ...}`), a taken name 409. Credentials in a
config (an SQL URL's password, Authorization-like headers) are shown masked; sending the
mask back in a PUT keeps the stored value (an SQL password only for the same server,
database and user). A URL the outbound policy refuses (app/outbound.py) answers 422 on
`config.url`. Changes are written to the audit log."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app.api.bodies import json_body
from app.api.definitions import Source as SourceAnswer
from app.api.definitions import SourceChange, SourceDefinition, Sources
from app.api.document import Body, Operation, documented
from app.outbound import outbound_policy
from app.web.auth import Principal, principal, services
from data.domain.errors import NotFound
from data.stores.sources import Source, SourceStore

bp = Blueprint("sources", __name__, url_prefix="/sources")
SOURCE_VIEWS = ("get_source", "update_source", "delete_source")  # of a source's id
CHANGE = Body(SourceChange, optional="all", name="SourceChange")  # fields left out are kept


def _admin() -> tuple[Principal, SourceStore]:
    who = principal(role="admin")
    svc = services()
    policy = outbound_policy(svc.settings)
    return who, SourceStore(svc.engine, policy, svc.settings.max_sources_per_tenant)


def _user_id(who: Principal) -> str | None:
    return who.user.user_id if who.user else None


def _found(source: Source | None) -> Source:
    if source is None:
        raise NotFound("source")
    return source


@bp.get("")
@documented(Operation({200: Sources}))
def list_sources() -> Response:
    """The tenant's sources with their health, by name."""
    who, store = _admin()
    return jsonify({"sources": [s.as_dict() for s in store.of_tenant(who.tenant_id)]})


@bp.post("")
@documented(
    Operation(
        {201: SourceAnswer},
        body=SourceDefinition,
        refusals=(409,),
        links={f"api.sources.{view}": "source_id" for view in SOURCE_VIEWS},
    )
)
def create_source() -> tuple[Response, int]:
    """Add a source; the worker starts polling it within seconds."""
    who, store = _admin()
    source = store.create(who.tenant_id, json_body(objects_only=False), _user_id(who))
    return jsonify(source.as_dict()), 201


@bp.get("/<source_id>")
@documented(Operation({200: SourceAnswer}, refusals=(404,)))
def get_source(source_id: str) -> Response:
    """One source with its health and state."""
    who, store = _admin()
    return jsonify(_found(store.get(who.tenant_id, source_id)).as_dict())


@bp.put("/<source_id>")
@documented(Operation({200: SourceAnswer}, body=CHANGE, refusals=(404, 409)))
def update_source(source_id: str) -> Response:
    """Change a source; fields left out keep their value."""
    who, store = _admin()
    source = store.update(who.tenant_id, source_id, json_body(objects_only=False), _user_id(who))
    return jsonify(_found(source).as_dict())


@bp.delete("/<source_id>")
@documented(Operation({204: None}, refusals=(404,)))
def delete_source(source_id: str) -> tuple[str, int]:
    """Remove a source; the worker stops polling it within seconds."""
    who, store = _admin()
    if not store.delete(who.tenant_id, source_id, _user_id(who)):
        raise NotFound("source")
    return "", 204
