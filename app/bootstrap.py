"""First start: the demo tenant, its admin, and its live demo source."""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import insert, select

from app.services import Services
from data.stores.schema import sources

DEMO_TENANT = "demo"


def ensure_demo_tenant(services: Services) -> str | None:
    """Create tenant `demo` with admin `admin` when it has no users; return a new password."""
    settings = services.settings
    generated: str | None = None
    if not services.accounts.has_users(DEMO_TENANT):
        given = settings.pulse_admin_password
        password = given.get_secret_value() if given else secrets.token_urlsafe(12)
        generated = None if given else password
        services.accounts.create_user(DEMO_TENANT, "admin", "admin@demo.local", "admin", password)
    if settings.demo_data:
        _ensure_demo_source(services)
    return generated


def _ensure_demo_source(services: Services) -> None:
    with services.engine.begin() as conn:
        exists = conn.execute(
            select(sources.c.source_id).where(
                sources.c.tenant_id == DEMO_TENANT, sources.c.kind == "demo"
            )
        ).first()
        if not exists:
            conn.execute(
                insert(sources).values(
                    source_id=str(uuid.uuid4()),
                    tenant_id=DEMO_TENANT,
                    name="demo-generator",
                    kind="demo",
                    interval_s=1.0,
                )
            )
