"""Dashboards in PostgreSQL, per tenant (CONTRACT.md §6): create, read, save with a version
counter, copy, delete, import and export; each user's personal view of a dashboard and
their home; the tenant's default home (one an admin chose, data/stores/tenant_homes.py, else
the one generated from its top metrics).

Every call acts as an Actor (tenant, user, role) and reads and writes in the actor's own
tenant only: another tenant's dashboard, or another user's personal one, is NotFound,
exactly as a missing one. Who may change what is decided
by data/domain/dashboards.py (may_view, may_edit); a save carrying a stale version is a
Conflict, so two editors never silently overwrite each other.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from data.domain.dashboard_documents import export_document, generated_home, import_document
from data.domain.dashboards import (
    MAX_TITLE_CHARS,
    Actor,
    DashboardSpec,
    may_edit,
    may_view,
    parse_dashboard,
    parse_view,
)
from data.domain.errors import Conflict, Forbidden, Invalid, NotFound
from data.stores.audit import record_audit
from data.stores.dashboard_rows import (
    Dashboard,
    DashboardSummary,
    check_edit,
    check_quota,
    dashboard_of,
    fetch_row,
    has_metrics,
    read_dashboard,
    row_values,
    visible,
)
from data.stores.schema import dashboard_homes, dashboard_views, dashboards, rollup_1h, users
from data.stores.tenant_homes import chosen_default, generated_is_ready, point_default

MAX_SEARCH_CHARS = 200
TOP_METRICS_WINDOW = timedelta(days=7)
_D = dashboards.c


class DashboardStore:
    """Dashboards of every tenant, each call scoped to one tenant and one acting user."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock  # epoch seconds: when a save is recorded as made

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # -- reading ---------------------------------------------------------------------------

    def list_for(self, actor: Actor, search: str | None = None) -> list[DashboardSummary]:
        """The actor's own dashboards and the tenant's shared ones, last saved first; with
        `search`, those whose title holds it (any case)."""
        query = (
            select(_D.dashboard_id, _D.title, _D.shared, _D.updated_at, users.c.username)
            .select_from(dashboards.outerjoin(users, users.c.user_id == _D.owner_id))
            .where(visible(actor))
            .order_by(_D.updated_at.desc(), _D.dashboard_id)
        )
        if search and search.strip():
            needle = search.strip()[:MAX_SEARCH_CHARS]
            escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(_D.title.ilike(f"%{escaped}%", escape="\\"))
        with self.engine.connect() as conn:
            return [
                DashboardSummary(r.dashboard_id, r.title, r.username, r.shared, r.updated_at)
                for r in conn.execute(query)
            ]

    def get(self, actor: Actor, dashboard_id: str) -> Dashboard:
        """The dashboard with the actor's view; NotFound unless the actor may see it."""
        with self.engine.connect() as conn:
            return read_dashboard(conn, actor, dashboard_id)

    def export(self, actor: Actor, dashboard_id: str) -> dict[str, Any]:
        """The dashboard as JSON with its schema_version, names only (no ids)."""
        return export_document(self.get(actor, dashboard_id).spec)

    # -- writing ---------------------------------------------------------------------------

    def create(self, actor: Actor, doc: Any) -> Dashboard:
        """A new dashboard of the actor's; sharing it at once needs analyst or admin."""
        return self._insert(actor, parse_dashboard(doc), "dashboard.create", {})

    def import_document(
        self, actor: Actor, doc: Any, rename: Mapping[str, str] | None = None
    ) -> Dashboard:
        """A new personal dashboard from an exported document (any known schema_version),
        its metrics renamed through `rename`."""
        spec = import_document(doc, rename)
        details = {"schema_version": doc.get("schema_version"), "renamed": sorted(rename or {})}
        return self._insert(actor, spec, "dashboard.import", details)

    def copy(self, actor: Actor, dashboard_id: str, doc: Any = None) -> Dashboard:
        """A personal copy of a dashboard the actor sees: as stored, or as `doc` when given
        (the edits of a save refused for a stale version, kept as a copy)."""
        source = self.get(actor, dashboard_id)
        if doc is None:
            title = f"Copy of {source.spec.title}"[:MAX_TITLE_CHARS]
            spec = source.spec.model_copy(update={"title": title})
        else:
            spec = parse_dashboard(doc)
        spec = spec.model_copy(update={"shared": False})
        return self._insert(actor, spec, "dashboard.copy", {"from": dashboard_id})

    def _insert(self, actor: Actor, spec: DashboardSpec, action: str, details: dict) -> Dashboard:
        if spec.shared and not actor.may_share:
            raise Forbidden("sharing a dashboard with the tenant needs analyst or admin")
        dashboard_id = str(uuid.uuid4())
        with self.engine.begin() as conn:
            check_quota(conn, actor.tenant_id)
            conn.execute(
                insert(dashboards).values(
                    dashboard_id=dashboard_id,
                    tenant_id=actor.tenant_id,
                    owner_id=actor.user_id,
                    updated_by=actor.user_id,
                    created_at=(now := self._now()),
                    updated_at=now,
                    **row_values(spec),
                )
            )
            details = {"title": spec.title, **details}
            record_audit(conn, actor.tenant_id, actor.user_id, action, dashboard_id, details)
            return read_dashboard(conn, actor, dashboard_id)

    def save(self, actor: Actor, dashboard_id: str, doc: Any) -> Dashboard:
        """Replace a dashboard's document (one without `shared` keeps its sharing).
        `doc["version"]` must be the version the editor loaded: an older (or any other) one
        is a Conflict and nothing is written."""
        parse_dashboard(doc)  # refused before anything is locked
        sent = doc.get("version")
        if type(sent) is not int:
            raise Invalid.field("version", "the version you loaded is required", "dashboard")
        with self.engine.begin() as conn:
            row = fetch_row(conn, actor.tenant_id, dashboard_id, lock=True)
            if row is None or not may_view(actor, row.owner_id, row.shared):
                raise NotFound("dashboard")
            # a body without `shared` keeps the dashboard as shared as it is
            spec = parse_dashboard({"shared": row.shared, **doc})
            check_edit(actor, row, spec)
            if row.version != sent:
                raise _stale(sent, row.version)
            written = conn.execute(
                update(dashboards)
                .where(
                    _D.tenant_id == actor.tenant_id,
                    _D.dashboard_id == dashboard_id,
                    _D.version == sent,  # the lock makes it so; this keeps it so regardless
                )
                .values(
                    version=sent + 1,
                    updated_at=self._now(),
                    updated_by=actor.user_id,
                    **row_values(spec),
                )
            )
            if written.rowcount != 1:
                raise _stale(sent, None)
            details = {"version": sent + 1, "shared": spec.shared}
            record_audit(
                conn, actor.tenant_id, actor.user_id, "dashboard.update", dashboard_id, details
            )
            saved = fetch_row(conn, actor.tenant_id, dashboard_id)
            return dashboard_of(conn, saved, actor)

    def delete(self, actor: Actor, dashboard_id: str) -> None:
        """Remove a dashboard, its personal views and any home choice of it."""
        with self.engine.begin() as conn:
            row = fetch_row(conn, actor.tenant_id, dashboard_id, lock=True)
            if row is None or not may_view(actor, row.owner_id, row.shared):
                raise NotFound("dashboard")
            if not may_edit(actor, row.owner_id, row.shared):
                raise Forbidden("only its owner, or an admin when it is shared, deletes it")
            conn.execute(
                delete(dashboards).where(
                    _D.tenant_id == actor.tenant_id, _D.dashboard_id == dashboard_id
                )
            )
            details = {"title": row.title}
            record_audit(
                conn, actor.tenant_id, actor.user_id, "dashboard.delete", dashboard_id, details
            )

    # -- per user ---------------------------------------------------------------------------

    def save_view(self, actor: Actor, dashboard_id: str, doc: Any) -> Dashboard:
        """Keep the actor's own time range, filters and collapsed widgets of a dashboard
        they see; the dashboard itself (and its version) is left as it is."""
        with self.engine.begin() as conn:
            shown = read_dashboard(conn, actor, dashboard_id)
            view = parse_view(doc, shown.spec).model_dump(mode="json")
            statement = pg_insert(dashboard_views).values(
                user_id=actor.user_id,
                dashboard_id=dashboard_id,
                tenant_id=actor.tenant_id,
                view=view,
                updated_at=self._now(),
            )
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["user_id", "dashboard_id"],
                    set_={"view": view, "updated_at": statement.excluded.updated_at},
                )
            )
            return read_dashboard(conn, actor, dashboard_id)

    def clear_view(self, actor: Actor, dashboard_id: str) -> Dashboard:
        """Drop the actor's personal view: they see the dashboard as saved again."""
        with self.engine.begin() as conn:
            read_dashboard(conn, actor, dashboard_id)
            conn.execute(
                delete(dashboard_views).where(
                    dashboard_views.c.user_id == actor.user_id,
                    dashboard_views.c.dashboard_id == dashboard_id,
                )
            )
            return read_dashboard(conn, actor, dashboard_id)

    def set_home(self, actor: Actor, dashboard_id: str | None) -> None:
        """Make a dashboard the actor sees their home (`/`); None: back to the tenant's."""
        with self.engine.begin() as conn:
            conn.execute(delete(dashboard_homes).where(dashboard_homes.c.user_id == actor.user_id))
            if dashboard_id is None:
                return
            read_dashboard(conn, actor, dashboard_id)
            conn.execute(
                insert(dashboard_homes).values(
                    user_id=actor.user_id, tenant_id=actor.tenant_id, dashboard_id=dashboard_id
                )
            )

    def chosen_home(self, actor: Actor) -> str | None:
        """The dashboard the actor chose as their home, while they still see it; None when
        they chose none (their home is then the tenant's)."""
        with self.engine.connect() as conn:
            chosen = conn.execute(
                select(dashboard_homes.c.dashboard_id).where(
                    dashboard_homes.c.user_id == actor.user_id,
                    dashboard_homes.c.tenant_id == actor.tenant_id,
                )
            ).scalar_one_or_none()
            if chosen is None:
                return None
            try:
                return read_dashboard(conn, actor, chosen).dashboard_id
            except NotFound:  # unshared since
                return None

    def home(self, actor: Actor) -> Dashboard:
        """The actor's home: the dashboard they chose while they still see it, else the
        tenant's default (an admin's choice, else generated from its top metrics the first
        time it is asked for)."""
        with self.engine.connect() as conn:
            chosen = conn.execute(
                select(dashboard_homes.c.dashboard_id).where(
                    dashboard_homes.c.user_id == actor.user_id,
                    dashboard_homes.c.tenant_id == actor.tenant_id,
                )
            ).scalar_one_or_none()
            if chosen is not None:
                try:
                    return read_dashboard(conn, actor, chosen)
                except NotFound:  # unshared since: the tenant's home again
                    pass
        return self.get(actor, self.tenant_home_id(actor.tenant_id))

    def tenant_home_id(self, tenant_id: str) -> str:
        """The tenant's default home: the shared dashboard an admin chose, else its generated
        one, made now if it has none (once, however many ask at once); a generated one left
        untouched since it was made without metrics is made again once the tenant has some."""
        with self.engine.begin() as conn:
            chosen = chosen_default(conn, tenant_id)
            if chosen is not None:
                return chosen
            row = conn.execute(
                select(_D.dashboard_id, _D.version, _D.doc).where(
                    _D.tenant_id == tenant_id, _D.tenant_home
                )
            ).first()
            if row is not None and (row.version > 1 or has_metrics(row.doc)):
                return str(row.dashboard_id)
            spec = generated_home(self.top_metrics(conn, tenant_id))
            if row is not None:
                if has_metrics(spec.document()):
                    conn.execute(
                        update(dashboards)
                        .where(_D.dashboard_id == row.dashboard_id, _D.version == 1)
                        .values(updated_at=self._now(), **row_values(spec))
                    )
                return str(row.dashboard_id)
            return self._insert_home(conn, tenant_id, spec)

    def _insert_home(self, conn: Connection, tenant_id: str, spec: DashboardSpec) -> str:
        dashboard_id = str(uuid.uuid4())
        inserted = conn.execute(
            pg_insert(dashboards)
            .values(
                dashboard_id=dashboard_id,
                tenant_id=tenant_id,
                owner_id=None,
                tenant_home=True,
                created_at=(now := self._now()),
                updated_at=now,
                **row_values(spec),
            )
            .on_conflict_do_nothing(index_elements=["tenant_id"], index_where=_D.tenant_home)
            .returning(_D.dashboard_id)
        ).scalar_one_or_none()
        if inserted is None:  # another request made it first
            return str(
                conn.execute(
                    select(_D.dashboard_id).where(_D.tenant_id == tenant_id, _D.tenant_home)
                ).scalar_one()
            )
        point_default(conn, tenant_id, dashboard_id, None, self._now())
        details = {"title": spec.title, "metrics": len(spec.widgets) // 2}
        record_audit(conn, tenant_id, None, "dashboard.generate", dashboard_id, details)
        return dashboard_id

    def home_id(self, actor: Actor) -> str | None:
        """The dashboard `/` shows the actor: theirs, else the tenant's default (generated
        the first time the tenant has data); None while the tenant has neither data nor a
        home, which `/` answers with how to send data."""
        chosen = self.chosen_home(actor)
        if chosen is not None:
            return chosen
        with self.engine.connect() as conn:
            ready = (
                chosen_default(conn, actor.tenant_id) is not None
                or generated_is_ready(conn, actor.tenant_id)
                or bool(self.top_metrics(conn, actor.tenant_id, limit=1))
            )
        return self.tenant_home_id(actor.tenant_id) if ready else None

    def set_tenant_home(self, actor: Actor, dashboard_id: str) -> None:
        """Make a shared dashboard the tenant's default home (admins only; audited)."""
        if actor.role != "admin":
            raise Forbidden("only an admin chooses the tenant's home")
        with self.engine.begin() as conn:
            row = fetch_row(conn, actor.tenant_id, dashboard_id, lock=True)
            if row is None or not may_view(actor, row.owner_id, row.shared):
                raise NotFound("dashboard")
            if not row.shared:  # everyone of the tenant must see their home
                raise Invalid.field(
                    "shared", "only a shared dashboard can be the tenant's home", "dashboard"
                )
            point_default(conn, actor.tenant_id, dashboard_id, actor.user_id, self._now())
            details = {"title": row.title}
            record_audit(
                conn, actor.tenant_id, actor.user_id, "dashboard.tenant_home", dashboard_id, details
            )

    def top_metrics(self, conn: Connection, tenant_id: str, limit: int = 4) -> list[str]:
        """The tenant's most reported metrics of the last week (hourly rollups), busiest
        first: what a generated home shows."""
        since = self._now() - TOP_METRICS_WINDOW
        query = (
            select(rollup_1h.c.metric_type)
            .where(rollup_1h.c.tenant_id == tenant_id, rollup_1h.c.bucket >= since)
            .group_by(rollup_1h.c.metric_type)
            .order_by(func.sum(rollup_1h.c.count).desc(), rollup_1h.c.metric_type)
            .limit(limit)
        )
        return [str(m) for m in conn.execute(query).scalars()]


def _stale(sent: int, stored: int | None) -> Conflict:
    """The refusal of a save from a version that is no longer the stored one."""
    now = f" (it is at {stored})" if stored is not None else ""
    message = (
        f"the dashboard was saved since version {sent}{now}: reload it, or save yours as a copy"
    )
    return Conflict(message, "version_conflict")
