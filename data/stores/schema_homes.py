"""The tenant's default home (`/` for whoever chose none), on the schema's metadata; a module
of its own because data/stores/schema.py is at the size limit. It points at a shared
dashboard of the tenant: the one generated from its top metrics, or one an admin chose."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, String, Table, func

from data.stores.schema import metadata

tenant_homes = Table(
    "tenant_homes",
    metadata,
    Column(
        "tenant_id",
        String(64),
        ForeignKey("tenants.tenant_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # deleting the dashboard drops the choice: the tenant's generated home serves again
    Column(
        "dashboard_id",
        String(36),
        ForeignKey("dashboards.dashboard_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("set_by", String(36)),  # the admin who chose it; None: generated
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
