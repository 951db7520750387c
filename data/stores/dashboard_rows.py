"""Rows of the dashboards tables and what a store call returns: the list's summaries and a
dashboard as one user sees it; the checks every call shares (scope, visibility, quota)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from data.domain.dashboard_documents import SCHEMA_VERSION, load_stored
from data.domain.dashboards import (
    Actor,
    DashboardSpec,
    PersonalView,
    may_edit,
    may_view,
)
from data.domain.errors import Forbidden, Invalid, NotFound, QuotaExceeded
from data.domain.timefmt import iso_datetime
from data.stores.schema import dashboard_views, dashboards, is_uuid, users

MAX_DASHBOARDS_PER_TENANT = 2000
_D = dashboards.c


@dataclass(frozen=True, slots=True)
class DashboardSummary:
    """One line of the list: `{"id", "title", "owner", "shared", "updated_at"}`."""

    dashboard_id: str
    title: str
    owner: str | None  # the owner's username; None once they are gone
    shared: bool
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.dashboard_id,
            "title": self.title,
            "owner": self.owner,
            "shared": self.shared,
            "updated_at": iso_datetime(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class Dashboard:
    """A dashboard as one user sees it: the shared document and their own view of it."""

    dashboard_id: str
    owner_id: str | None
    owner: str | None
    spec: DashboardSpec
    version: int
    tenant_home: bool
    editable: bool  # whether this user may save it
    view: PersonalView | None
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """The API's dashboard (§6): its document, id, version, owner; the caller's view."""
        return {
            "id": self.dashboard_id,
            **self.spec.model_dump(mode="json"),
            "version": self.version,
            "owner": self.owner,
            "editable": self.editable,
            "view": self.view.model_dump(mode="json") if self.view else None,
            "created_at": iso_datetime(self.created_at),
            "updated_at": iso_datetime(self.updated_at),
        }


def read_dashboard(conn: Connection, actor: Actor, dashboard_id: str) -> Dashboard:
    """The dashboard with the actor's view; NotFound unless the actor may see it."""
    row = fetch_row(conn, actor.tenant_id, dashboard_id)
    if row is None or not may_view(actor, row.owner_id, row.shared):
        raise NotFound("dashboard")
    return dashboard_of(conn, row, actor)


def dashboard_of(conn: Connection, row: Any, actor: Actor) -> Dashboard:
    """A dashboard row as the actor sees it: with their personal view, if any."""
    spec = load_stored(dict(row.doc), row.schema_version, row.shared)
    owner = None
    if row.owner_id is not None:
        owner = conn.execute(
            select(users.c.username).where(users.c.user_id == row.owner_id)
        ).scalar_one_or_none()
    view_doc = conn.execute(
        select(dashboard_views.c.view).where(
            dashboard_views.c.user_id == actor.user_id,
            dashboard_views.c.dashboard_id == row.dashboard_id,
        )
    ).scalar_one_or_none()
    view = PersonalView.model_validate(view_doc) if view_doc is not None else None
    return Dashboard(
        row.dashboard_id,
        row.owner_id,
        owner,
        spec,
        row.version,
        row.tenant_home,
        may_edit(actor, row.owner_id, row.shared),
        view,
        row.created_at,
        row.updated_at,
    )


def visible(actor: Actor) -> Any:
    """What the actor sees of their tenant: shared dashboards and their own."""
    return and_(_D.tenant_id == actor.tenant_id, or_(_D.shared, _D.owner_id == actor.user_id))


def fetch_row(conn: Connection, tenant_id: str, dashboard_id: str, lock: bool = False) -> Any:
    """The tenant's dashboard row (locked for a save), or None: not a UUID, not there, or
    another tenant's."""
    if not is_uuid(dashboard_id):
        return None
    query = select(dashboards).where(_D.tenant_id == tenant_id, _D.dashboard_id == dashboard_id)
    return conn.execute(query.with_for_update() if lock else query).first()


def row_values(spec: DashboardSpec) -> dict[str, Any]:
    """The columns a dashboard's document is stored in, at the current schema version."""
    return {
        "title": spec.title,
        "shared": spec.shared,
        "schema_version": SCHEMA_VERSION,
        "doc": spec.document(),
    }


def has_metrics(doc: Mapping[str, Any]) -> bool:
    """Whether a stored document has a widget querying some metric."""
    return any(w.get("query", {}).get("metric") for w in doc.get("widgets", []))


def check_quota(conn: Connection, tenant_id: str) -> None:
    """QuotaExceeded when the tenant already has MAX_DASHBOARDS_PER_TENANT dashboards."""
    count = conn.execute(
        select(func.count()).select_from(dashboards).where(_D.tenant_id == tenant_id)
    ).scalar_one()
    if count >= MAX_DASHBOARDS_PER_TENANT:
        message = f"a tenant may have at most {MAX_DASHBOARDS_PER_TENANT} dashboards"
        raise QuotaExceeded(message, "too_many_dashboards")


def check_edit(actor: Actor, row: Any, spec: DashboardSpec) -> None:
    """Forbidden unless the actor may save this dashboard as `spec`."""
    if not may_edit(actor, row.owner_id, row.shared):
        raise Forbidden("only its owner, or an admin when it is shared, changes it")
    if spec.shared and not row.shared and not actor.may_share:
        raise Forbidden("sharing a dashboard with the tenant needs analyst or admin")
    if row.owner_id is None and not spec.shared:
        # nobody could see or edit it again
        raise Invalid.field("shared", "a dashboard without an owner stays shared", "dashboard")
