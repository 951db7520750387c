"""The world the permission matrix runs in: tenant A with one caller of each kind and one
object of each kind, tenant B with an admin and a read key, and a Flask test client per
caller (CONTRACT.md §2: nothing crosses tenants; another tenant's object answers 404).

Every name Pulse could leak from A carries `A_MARK`, so a test can check that nothing B is
shown contains it. Objects a cell may change or delete are made fresh for that cell
(`fresh_*`), so the order of the cells never matters.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import dash
from flask.testing import FlaskClient
from sqlalchemy import text

from app.services import Services
from app.web.factory import create_app
from data.domain.points import Point
from data.stores.alert_rules import AlertRules
from data.stores.dead_letters import DeadLetters
from data.stores.ingest_queue import IngestEntry
from data.stores.sources import SourceStore
from tests import alerts_support
from tests.alerts_support import firing_incident, rules_of
from tests.conftest import PASSWORD, signed_in

# The callers of every cell, in the order of the matrix's columns.
CALLERS = (
    "anonymous",
    "A viewer",
    "A analyst",
    "A admin",
    "A ingest key",
    "A read key",
    "B admin",
    "B read key",
)
B_CALLERS = ("B admin", "B read key")
A_MARK = "matrixsecret"  # in every name of tenant A's objects
A_METRIC = f"{A_MARK}.cpu"


@dataclass
class World:
    """Two tenants, their callers and tenant A's objects."""

    services: Services
    app: dash.Dash
    tenant_a: str
    tenant_b: str
    clients: dict[str, FlaskClient]
    users: dict[str, Any]  # caller name → User, for the signed-in callers
    keys: dict[str, str]  # caller name → API key secret
    rule_id: str = ""
    incident_id: str = ""
    source_id: str = ""
    dead_id: str = ""
    notifications: dict[str, str] = field(default_factory=dict)  # caller → its notification

    @property
    def rules(self) -> AlertRules:
        return rules_of(self.services)

    def headers(self, caller: str) -> dict[str, str]:
        """The Authorization header of a key caller (none for the others)."""
        key = self.keys.get(caller)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def fresh_rule(self, **changes: Any) -> str:
        """A new threshold rule of tenant A; its id."""
        doc = rule_doc(f"{A_MARK}-rule-{uuid.uuid4().hex[:6]}", **changes)
        return self.rules.create(self.tenant_a, doc).rule_id

    def fresh_incident(self) -> str:
        """A new firing incident of tenant A, with a notification for each of A's users."""
        rule = self.rules.get(self.tenant_a, self.rule_id)
        assert rule is not None
        return firing_incident(self.services, rule, f"{A_MARK}-host-{uuid.uuid4().hex[:6]}", 93.5)

    def notification_of(self, incident_id: str, caller: str) -> str:
        """The id of the notification of `incident_id` sent to `caller`."""
        with self.services.engine.connect() as conn:
            return str(
                conn.execute(
                    text(
                        "SELECT notification_id FROM notifications"
                        " WHERE incident_id = :i AND user_id = :u"
                    ),
                    {"i": incident_id, "u": self.users[caller].user_id},
                ).scalar_one()
            )

    def fresh_source(self) -> str:
        """A new, disabled demo source of tenant A; its id."""
        doc = {
            "name": f"{A_MARK}-source-{uuid.uuid4().hex[:6]}",
            "kind": "demo",
            "config": {"seed": 1},
            "enabled": False,
        }
        return SourceStore(self.services.engine).create(self.tenant_a, doc).source_id

    def fresh_dead_letter(self) -> str:
        """A new dead letter of tenant A (a point PostgreSQL 'kept refusing'); its id."""
        live = self.services.live
        live.ensure_group()
        now_ms = int(time.time() * 1000)
        point = Point(uuid.uuid4().hex, f"{A_MARK}-dead", A_METRIC, now_ms, 1.0)
        entry = IngestEntry(
            f"{now_ms}-{uuid.uuid4().int % 1_000_000}", self.tenant_a, [point], True
        )
        letters = DeadLetters(live)
        letters.bury(entry, f"{A_MARK} refused", 5)
        found = [d for d in letters.of_tenant(self.tenant_a) if d.entry_id == entry.entry_id]
        return found[0].dead_id

    def dead_letter_exists(self, dead_id: str) -> bool:
        live = self.services.live
        return bool(live.redis.xrange(live.dead_key, min=dead_id, max=dead_id))

    def row(self, sql: str, **params: Any) -> Any:
        """One row of a query on the run's database."""
        with self.services.engine.connect() as conn:
            return conn.execute(text(sql), params).first()


def rule_doc(name: str, **changes: Any) -> dict[str, Any]:
    """A valid threshold rule definition on A_METRIC."""
    return alerts_support.rule_doc(name, **{"metric": A_METRIC, **changes})


def build_world(services: Services) -> World:
    """Create both tenants, their callers, and A's shared objects."""
    suffix = uuid.uuid4().hex[:8]
    tenant_a, tenant_b = f"matrix-a-{suffix}", f"matrix-b-{suffix}"
    accounts = services.accounts
    users = {
        "A viewer": accounts.create_user(
            tenant_a, f"mx-viewer-{suffix}", f"v{suffix}@a.example", "viewer", PASSWORD
        ),
        "A analyst": accounts.create_user(
            tenant_a, f"mx-analyst-{suffix}", f"n{suffix}@a.example", "analyst", PASSWORD
        ),
        "A admin": accounts.create_user(
            tenant_a, f"mx-admin-{suffix}", f"d{suffix}@a.example", "admin", PASSWORD
        ),
        "B admin": accounts.create_user(
            tenant_b, f"mx-badmin-{suffix}", f"b{suffix}@b.example", "admin", PASSWORD
        ),
    }
    keys = {
        "A ingest key": accounts.create_api_key(tenant_a, "matrix ingest", "ingest"),
        "A read key": accounts.create_api_key(tenant_a, "matrix read", "read"),
        "B read key": accounts.create_api_key(tenant_b, "matrix read", "read"),
    }
    app = create_app(services=services)
    clients = {name: signed_in(app.server, user) for name, user in users.items()}
    for name in ("anonymous", *keys):
        clients[name] = app.server.test_client()
    world = World(services, app, tenant_a, tenant_b, clients, users, keys)
    world.rule_id = world.fresh_rule()
    world.incident_id = world.fresh_incident()
    world.notifications = {
        c: world.notification_of(world.incident_id, c) for c in users if c.startswith("A ")
    }
    world.source_id = world.fresh_source()
    world.dead_id = world.fresh_dead_letter()
    point = Point(uuid.uuid4().hex, f"{A_MARK}-host", A_METRIC, int(time.time() * 1000), 42.0)
    services.history.write_points([(tenant_a, point)])  # as the worker stores and publishes it
    services.live.publish_points(tenant_a, [point])
    return world
