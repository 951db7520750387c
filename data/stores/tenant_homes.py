"""Each tenant's default home (table tenant_homes): which shared dashboard `/` shows to a
user who chose none, and whether the tenant has one to show yet. Used by
data/stores/dashboards.py, which owns the dashboards themselves."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from data.stores.dashboard_rows import has_metrics
from data.stores.schema import dashboards
from data.stores.schema_homes import tenant_homes

_D, _H = dashboards.c, tenant_homes.c


def chosen_default(conn: Connection, tenant_id: str) -> str | None:
    """The shared dashboard an admin made the tenant's home, while it stays shared; None
    when the tenant's home is its generated one (or it has none yet)."""
    query = (
        select(_D.dashboard_id)
        .select_from(tenant_homes.join(dashboards, _D.dashboard_id == _H.dashboard_id))
        .where(_H.tenant_id == tenant_id, _D.tenant_id == tenant_id, _D.shared, ~_D.tenant_home)
    )
    found = conn.execute(query).scalar_one_or_none()
    return str(found) if found is not None else None


def generated_is_ready(conn: Connection, tenant_id: str) -> bool:
    """Whether the tenant's generated home exists and shows something: metrics, or an
    admin's edits (an untouched one made before any data is made again)."""
    row = conn.execute(
        select(_D.version, _D.doc).where(_D.tenant_id == tenant_id, _D.tenant_home)
    ).first()
    return row is not None and (row.version > 1 or has_metrics(row.doc))


def point_default(
    conn: Connection, tenant_id: str, dashboard_id: str, by: str | None, now: datetime
) -> None:
    """Make `dashboard_id` the tenant's home; `by` None (generated) never replaces an
    admin's choice."""
    statement = pg_insert(tenant_homes).values(
        tenant_id=tenant_id, dashboard_id=dashboard_id, set_by=by, updated_at=now
    )
    if by is None:
        conn.execute(statement.on_conflict_do_nothing(index_elements=["tenant_id"]))
        return
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["tenant_id"],
            set_={"dashboard_id": dashboard_id, "set_by": by, "updated_at": now},
        )
    )
