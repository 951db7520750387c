"""Helpers of the dashboard tests: a dashboard document as the contract writes it, users as
the store's actors, a second tenant, points for a tenant's top metrics, audit actions."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from app.services import Services
from data.domain.dashboards import Actor
from data.domain.points import Point
from data.stores.accounts import User
from data.stores.partitions import ensure_for_times
from data.stores.schema_accounts import audit_log

WIDGETS = [
    {
        "id": "orders",
        "type": "line",
        "title": "Orders",
        "query": {"metric": ["sales.orders"], "source": ["web-1"], "agg": "sum", "step": "1m"},
        "live": True,
        "layout": {"x": 0, "y": 0, "w": 6, "h": 4},
    },
    {
        "id": "cpu",
        "type": "kpi",
        "title": "CPU",
        "query": {"metric": ["cpu.usage"], "source": [], "agg": "last", "step": "auto"},
        "live": True,
        "layout": {"x": 6, "y": 0, "w": 6, "h": 2},
    },
]


def doc(title: str = "Sales", shared: bool = False, **extra: Any) -> dict[str, Any]:
    return {
        "title": title,
        "shared": shared,
        "time": {"start": "now-6h", "end": "now"},
        "widgets": copy.deepcopy(WIDGETS),
        **extra,
    }


def as_actor(make_user: Callable[..., User], tenant_id: str, role: str = "analyst") -> Actor:
    """A new user of a tenant with a role, as the store's Actor."""
    user = make_user(tenant_id, role)
    return Actor(tenant_id, user.user_id, user.role)


def new_tenant(services: Services) -> str:
    """Another fresh tenant."""
    tenant_id = f"t-{uuid.uuid4().hex[:12]}"
    with services.engine.begin() as conn:
        services.accounts.ensure_tenant(conn, tenant_id)
    return tenant_id


def audit_actions(services: Services, tenant: str) -> list[str]:
    query = select(audit_log.c.action).where(
        audit_log.c.tenant_id == tenant, audit_log.c.action.startswith("dashboard.")
    )
    with services.engine.connect() as conn:
        return list(conn.execute(query.order_by(audit_log.c.audit_id)).scalars())


def write_points(services: Services, tenant: str, counts: dict[str, int]) -> None:
    """`count` points a metric, a second apart, ending now."""
    now_ms = services.now_ms()
    ensure_for_times(services.engine, [now_ms - 60_000, now_ms])
    batch = [
        (tenant, Point(f"p-{metric}-{i}", "web-1", metric, now_ms - i * 1000, float(i)))
        for metric, n in counts.items()
        for i in range(n)
    ]
    services.history.write_points(batch)
