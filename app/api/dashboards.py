"""/api/dashboards (CONTRACT.md §6): list, create, read, save, delete, copy, export and
import dashboards, and keep the caller's personal view of one.

Any signed-in user may read what they see (their own dashboards and the tenant's shared
ones) and make personal dashboards; sharing needs analyst or admin, and the owner (or an
admin, when it is shared) saves or deletes one. A dashboard the caller sees but may not
change answers 403; another user's personal dashboard, or another tenant's, 404, exactly as
a missing one. A save from an older `version` answers 409 and writes nothing.

An admin makes a shared dashboard the tenant's home: what `/` shows every user of the
tenant who chose no home of their own.

An API key of scope `read` reads what the whole tenant sees, its shared dashboards; it
changes nothing (a dashboard is a user's: writes and personal views need a session).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from app.api.bodies import json_body
from app.api.dashboard_models import (
    Dashboard,
    DashboardBody,
    DashboardExport,
    DashboardImport,
    Dashboards,
    DashboardSave,
)
from app.api.document import Operation, documented
from app.web.auth import Principal, principal, services
from data.domain.dashboards import SUBJECT, Actor, PersonalView
from data.domain.errors import Invalid
from data.stores.dashboard_rows import Dashboard as Shown

bp = Blueprint("dashboards", __name__, url_prefix="/dashboards")
VIEWS = (
    "get_dashboard",
    "save_dashboard",
    "delete_dashboard",
    "copy_dashboard",
    "export_dashboard",
    "save_view",
    "clear_view",
    "make_tenant_home",
)  # the operations on a dashboard's id, which a created one links to
LINKS = {f"api.dashboards.{view}": "dashboard_id" for view in VIEWS}
KEY_ROLE = "viewer"  # a read key sees what every user of the tenant sees: shared dashboards


def _actor(who: Principal) -> Actor:
    """The store's actor of a caller: a user, or a read key standing for no user (so it
    owns nothing and sees only what is shared)."""
    if who.user is not None:
        return Actor(who.tenant_id, who.user.user_id, who.user.role)
    key_id = who.key.key_id if who.key else ""
    return Actor(who.tenant_id, f"key:{key_id}", KEY_ROLE)


def _reader() -> Actor:
    return _actor(principal(scope="read"))


def _writer() -> Actor:
    """A signed-in user of any role: no key scope writes dashboards."""
    return _actor(principal())


def _dashboard(found: Shown, status: int = 200) -> tuple[Response, int]:
    return jsonify(found.as_dict()), status


@bp.get("")
@documented(Operation({200: Dashboards}))
def list_dashboards() -> Response:
    """The caller's own dashboards and the tenant's shared ones, last saved first."""
    actor = _reader()
    lines = services().dashboards.list_for(actor)
    return jsonify({"dashboards": [line.as_dict() for line in lines]})


@bp.post("")
@documented(Operation({201: Dashboard}, body=DashboardBody, refusals=(409,), links=LINKS))
def create_dashboard() -> tuple[Response, int]:
    """Create a dashboard of the caller's.

    Sharing it at once needs analyst or admin (403). 409: the tenant has as many
    dashboards as it may."""
    actor = _writer()
    return _dashboard(services().dashboards.create(actor, json_body()), 201)


@bp.post("/import")
@documented(Operation({201: Dashboard}, body=DashboardImport, refusals=(409,), links=LINKS))
def import_dashboard() -> tuple[Response, int]:
    """Import an exported dashboard as a new personal one.

    Its metrics are matched by name (`rename` maps names that differ), so a dashboard
    exported from one tenant imports into another."""
    actor = _writer()
    doc = dict(json_body())
    rename = doc.pop("rename", {})
    if not isinstance(rename, dict):  # null too: the document says an object when sent
        raise Invalid.field("rename", "must be an object of old → new metric names", SUBJECT)
    return _dashboard(services().dashboards.import_document(actor, doc, rename), 201)


@bp.get("/<dashboard_id>")
@documented(Operation({200: Dashboard}, refusals=(404,)))
def get_dashboard(dashboard_id: str) -> tuple[Response, int]:
    """One dashboard the caller sees, with their personal view of it."""
    return _dashboard(services().dashboards.get(_reader(), dashboard_id))


@bp.put("/<dashboard_id>")
@documented(Operation({200: Dashboard}, body=DashboardSave, refusals=(404, 409)))
def save_dashboard(dashboard_id: str) -> tuple[Response, int]:
    """Replace a dashboard's document; its version goes up by one.

    `version` must be the one the editor loaded: another one answers 409 and nothing is
    written (reload, or save the edits as a copy). 403: the caller sees it but is neither
    its owner nor, for a shared one, an admin."""
    actor = _writer()
    return _dashboard(services().dashboards.save(actor, dashboard_id, json_body()))


@bp.delete("/<dashboard_id>")
@documented(Operation({204: None}, refusals=(404,)))
def delete_dashboard(dashboard_id: str) -> tuple[str, int]:
    """Delete a dashboard with every personal view of it (its owner, or an admin when it
    is shared)."""
    services().dashboards.delete(_writer(), dashboard_id)
    return "", 204


@bp.post("/<dashboard_id>/copy")
@documented(Operation({201: Dashboard}, refusals=(404, 409), links=LINKS))
def copy_dashboard(dashboard_id: str) -> tuple[Response, int]:
    """A personal copy of a dashboard the caller sees, titled "Copy of …".

    Sent with a dashboard's body (the edits of a save refused as stale), the copy holds
    those edits instead."""
    actor = _writer()
    doc = json_body() if request.get_data() else None
    return _dashboard(services().dashboards.copy(actor, dashboard_id, doc), 201)


@bp.get("/<dashboard_id>/export")
@documented(Operation({200: DashboardExport}, refusals=(404,)))
def export_dashboard(dashboard_id: str) -> Response:
    """The dashboard as JSON with its `schema_version`, to keep, diff or import."""
    return jsonify(services().dashboards.export(_reader(), dashboard_id))


@bp.put("/<dashboard_id>/view")
@documented(Operation({200: Dashboard}, body=PersonalView, refusals=(404,)))
def save_view(dashboard_id: str) -> tuple[Response, int]:
    """Keep the caller's own time range, filters and collapsed widgets of a dashboard they
    see, without changing it (nor its version) for anyone else."""
    actor = _writer()
    return _dashboard(services().dashboards.save_view(actor, dashboard_id, json_body()))


@bp.delete("/<dashboard_id>/view")
@documented(Operation({200: Dashboard}, refusals=(404,)))
def clear_view(dashboard_id: str) -> tuple[Response, int]:
    """Drop the caller's personal view: they see the dashboard as saved again."""
    return _dashboard(services().dashboards.clear_view(_writer(), dashboard_id))


@bp.put("/<dashboard_id>/tenant-home")
@documented(Operation({204: None}, refusals=(404, 422)))
def make_tenant_home(dashboard_id: str) -> tuple[str, int]:
    """Make a shared dashboard the tenant's home (admin): `/` of every user of the tenant
    who chose none. A personal dashboard answers 422."""
    services().dashboards.set_tenant_home(_writer(), dashboard_id)
    return "", 204
