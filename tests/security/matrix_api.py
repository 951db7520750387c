"""The /api permission matrix as data: each route × each caller → the status it must answer.

Columns are `matrix_world.CALLERS`: anonymous; tenant A's viewer, analyst, admin, ingest key
and read key; tenant B's admin and read key. B's callers always aim at A's objects: 404
where B may use the route at all (never 403, never A's data), 403 where its key's scope or
role cannot use the route whatever the object. Each row also says how to make the request
(a fresh object for every write, so a cell that succeeds harms no other cell) and what must
hold afterwards: the write happened when the cell allows it, nothing changed when it
refuses.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from data.domain import remote_write
from data.domain.dashboards import Actor
from data.domain.embeds import EmbedResource, EmbedSigner, new_claims
from data.domain.points import Point
from data.stores.embed_tokens import EmbedTokens
from data.stores.sources import SourceStore
from tests.security.matrix_world import A_MARK, A_METRIC, World, rule_doc


@dataclass
class Probe:
    """One request of a cell and the check to run after it."""

    path: str
    body: Any = None
    after: Callable[[bool], None] = lambda allowed: None  # allowed: the cell expects 2xx
    raw: bytes | None = None  # a body sent as it is, with `headers` (not JSON)
    headers: dict[str, str] | None = None


Builder = Callable[[World, str], Probe]


def _get(path: str) -> Builder:
    return lambda world, caller: Probe(path)


def _rule_unless(world: World, rule_id: str, changed: Callable[[Any], bool]) -> Callable:
    """A check that the rule changed as `changed` says exactly when the cell was allowed."""

    def check(allowed: bool) -> None:
        rule = world.rules.get(world.tenant_a, rule_id)
        assert rule is not None, "the rule is gone"
        assert changed(rule) == allowed, f"rule {rule_id} changed={not allowed}"
        world.rules.delete(world.tenant_a, rule_id)

    return check


def ingest(world: World, caller: str) -> Probe:
    point = {
        "source": "matrix-probe",
        "metric_type": "matrix.throwaway",
        "timestamp": int(time.time()),
        "value": 1,
    }
    return Probe("/api/ingest", [point])


def remote_write_probe(world: World, caller: str) -> Probe:
    labels = {"__name__": "matrix_throwaway", "instance": "matrix-probe"}
    body = remote_write.encode([(labels, [(1.0, int(time.time() * 1000))])])
    headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}
    return Probe("/api/v1/write", raw=body, headers=headers)


FORECAST_QUERY = f"metric={A_MARK}.fc&history=1d&horizon=30m"


def forecast_probe(path: str) -> Builder:
    """A GET of a forecast route on a series of A with enough history: A's callers get its
    forecast, B's the 422 of a series they have no history of (nothing of A's)."""

    def build(world: World, caller: str) -> Probe:
        now = int(time.time() * 1000)
        last = now - now % 60_000 - 60_000
        points = [
            Point(
                f"fc-{last - i * 60_000}",
                f"{A_MARK}-host",
                f"{A_MARK}.fc",
                last - i * 60_000,
                i % 7,
            )
            for i in range(240)
        ]
        world.services.history.write_points([(world.tenant_a, p) for p in points])
        return Probe(f"{path}?{FORECAST_QUERY}")

    return build


def replay_dead_letter(world: World, caller: str) -> Probe:
    dead_id = world.fresh_dead_letter()

    def after(allowed: bool) -> None:
        assert world.dead_letter_exists(dead_id) != allowed

    return Probe(f"/api/dead-letters/{dead_id}/replay", None, after)


def create_source(world: World, caller: str) -> Probe:
    name = f"matrix-new-{uuid.uuid4().hex[:8]}"

    def after(allowed: bool) -> None:
        row = world.row("SELECT source_id, tenant_id FROM sources WHERE name = :n", n=name)
        assert (row is not None) == allowed
        if row is not None:
            SourceStore(world.services.engine).delete(row.tenant_id, row.source_id)

    return Probe(
        "/api/sources", {"name": name, "kind": "demo", "config": {}, "enabled": False}, after
    )


def update_source(world: World, caller: str) -> Probe:
    source_id = world.fresh_source()

    def after(allowed: bool) -> None:
        store = SourceStore(world.services.engine)
        source = store.get(world.tenant_a, source_id)
        assert source is not None and (source.interval_s == 37) == allowed
        store.delete(world.tenant_a, source_id)

    return Probe(f"/api/sources/{source_id}", {"interval_s": 37}, after)


def delete_source(world: World, caller: str) -> Probe:
    source_id = world.fresh_source()

    def after(allowed: bool) -> None:
        store = SourceStore(world.services.engine)
        assert (store.get(world.tenant_a, source_id) is None) == allowed
        store.delete(world.tenant_a, source_id)

    return Probe(f"/api/sources/{source_id}", None, after)


def create_rule(world: World, caller: str) -> Probe:
    name = f"matrix-new-{uuid.uuid4().hex[:8]}"

    def after(allowed: bool) -> None:
        row = world.row("SELECT rule_id, tenant_id FROM alert_rules WHERE name = :n", n=name)
        assert (row is not None) == allowed
        if row is not None:
            world.rules.delete(row.tenant_id, row.rule_id)

    # not A_METRIC: B's own new rule echoes its metric, which is no leak of A's
    return Probe("/api/alerts", rule_doc(name, metric="matrix.throwaway"), after)


def update_rule(world: World, caller: str) -> Probe:
    rule_id = world.fresh_rule()
    check = _rule_unless(world, rule_id, lambda rule: rule.params.get("threshold") == 99)
    return Probe(f"/api/alerts/{rule_id}", {"threshold": 99, "clear_threshold": 90}, check)


def silence_rule(world: World, caller: str) -> Probe:
    rule_id = world.fresh_rule()
    check = _rule_unless(world, rule_id, lambda rule: rule.silenced_until is not None)
    return Probe(f"/api/alerts/{rule_id}/silence", {"for_s": 3600}, check)


def delete_rule(world: World, caller: str) -> Probe:
    rule_id = world.fresh_rule()

    def after(allowed: bool) -> None:
        assert (world.rules.get(world.tenant_a, rule_id) is None) == allowed
        world.rules.delete(world.tenant_a, rule_id)

    return Probe(f"/api/alerts/{rule_id}", None, after)


def acknowledge(world: World, caller: str) -> Probe:
    incident_id = world.fresh_incident()

    def after(allowed: bool) -> None:
        row = world.row(
            "SELECT acknowledged_by FROM incidents WHERE incident_id = :i", i=incident_id
        )
        assert (row.acknowledged_by is not None) == allowed

    return Probe(f"/api/incidents/{incident_id}/ack", None, after)


def _viewer_notification_read(world: World, notification_id: str) -> bool:
    row = world.row("SELECT read FROM notifications WHERE notification_id = :n", n=notification_id)
    return bool(row.read)


def read_viewer_notification(world: World, caller: str) -> Probe:
    """Everyone tries A viewer's notification: only the viewer may mark it read."""
    notification_id = world.notification_of(world.fresh_incident(), "A viewer")

    def after(allowed: bool) -> None:
        assert _viewer_notification_read(world, notification_id) == allowed

    return Probe(f"/api/notifications/{notification_id}/read", None, after)


def read_all(world: World, caller: str) -> Probe:
    """Marking all read marks the caller's own only: A viewer's stays unread for the others."""
    notification_id = world.notification_of(world.fresh_incident(), "A viewer")

    def after(allowed: bool) -> None:
        mine = caller == "A viewer" and allowed
        assert _viewer_notification_read(world, notification_id) == mine

    return Probe("/api/notifications/read-all", None, after)


def _preview(world: World, caller: str) -> Probe:
    return Probe("/api/alerts/preview", rule_doc("preview"))


def _embeddable(world: World) -> str:
    """A fresh dashboard of tenant A, shared, so that every A analyst and admin sees it."""
    owner = world.users["A analyst"]
    actor = Actor(world.tenant_a, owner.user_id, owner.role)
    doc = {"title": f"{A_MARK} board", "shared": True, "widgets": [EMBED_WIDGET]}
    return world.services.dashboards.create(actor, doc).dashboard_id


def _embed_rows(world: World, dashboard_id: str) -> list[Any]:
    sql = "SELECT jti, revoked_at FROM embed_tokens WHERE resource->>'dashboard_id' = :d"
    return list(world.services.engine.connect().execute(text(sql), {"d": dashboard_id}))


def create_embed_token(world: World, caller: str) -> Probe:
    dashboard_id = _embeddable(world)

    def after(allowed: bool) -> None:
        assert len(_embed_rows(world, dashboard_id)) == (1 if allowed else 0)

    resource = {"type": "widget", "dashboard_id": dashboard_id, "widget_id": "cpu"}
    return Probe("/api/embed-tokens", {"resource": resource, "ttl_s": 600}, after)


def revoke_embed_token(world: World, caller: str) -> Probe:
    dashboard_id = _embeddable(world)
    signer = EmbedSigner(world.services.settings.require_secret())
    store = EmbedTokens(world.services.engine, world.services.redis, "matrix:", signer)
    claims = new_claims(
        world.tenant_a, EmbedResource("dashboard", dashboard_id), (), 600, time.time()
    )
    store.mint(claims, None, None)

    def after(allowed: bool) -> None:
        [row] = _embed_rows(world, dashboard_id)
        assert (row.revoked_at is not None) == allowed

    return Probe(f"/api/embed-tokens/{claims.jti}", None, after)


def _with(template: str) -> Builder:
    """A GET of a path naming A's shared objects ({rule}, {incident}, {source}, …)."""

    def build(world: World, caller: str) -> Probe:
        return Probe(
            template.format(
                rule=world.rule_id,
                incident=world.incident_id,
                source=world.source_id,
                dead=world.dead_id,
                notification=world.notifications["A viewer"],
            )
        )

    return build


QUERY = f"metric={A_METRIC}&start=now-1h&end=now"
EMBED_WIDGET = {
    "id": "cpu",
    "type": "line",
    "query": {"metric": [A_METRIC]},
    "layout": {"x": 0, "y": 0, "w": 6, "h": 4},
}
AUDIT, AUDIT_CSV = "/api/audit?action=source.", "/api/audit/export?action=source."
A, R, W, X = 200, 201, 202, 204  # answers of allowed cells: ok, created, accepted, no content

# (method, rule) → (status per caller, the request). Columns, as CALLERS:
#   anon  A-viewer  A-analyst  A-admin  A-ingest  A-read  B-admin  B-read
MATRIX: dict[tuple[str, str], tuple[tuple[int, ...], Builder]] = {
    ("POST", "/api/ingest"): ((401, 403, W, W, W, 403, W, 403), ingest),
    # agents' format, by key only: a write carried by the cookie must be JSON (CSRF), 415
    ("POST", "/api/v1/write"): ((401, 415, 415, 415, W, 403, 415, 403), remote_write_probe),
    ("GET", "/api/metrics"): ((401, A, A, A, 403, A, A, A), _get("/api/metrics")),
    ("GET", "/api/stream-token"): ((401, A, A, A, 403, A, A, A), _get("/api/stream-token")),
    ("GET", "/api/openapi.json"): ((401, A, A, A, A, A, A, A), _get("/api/openapi.json")),
    ("GET", "/api/data"): ((401, A, A, A, 403, A, A, A), _get(f"/api/data?{QUERY}")),
    ("GET", "/api/forecast"): (
        (401, A, A, A, 403, A, 422, 422),
        forecast_probe("/api/forecast"),
    ),
    ("GET", "/api/forecast/band"): (
        (401, A, A, A, 403, A, 422, 422),
        forecast_probe("/api/forecast/band"),
    ),
    ("GET", "/api/export"): (
        (401, 403, A, A, 403, A, A, A),
        _get(f"/api/export?{QUERY}&format=csv"),
    ),
    ("GET", "/api/dead-letters"): ((401, 403, 403, A, 403, 403, A, 403), _get("/api/dead-letters")),
    ("POST", "/api/dead-letters/<dead_id>/replay"): (
        (401, 403, 403, W, 403, 403, 404, 403),
        replay_dead_letter,
    ),
    ("GET", "/api/pipeline/accounting"): (
        (401, 403, 403, A, 403, 403, A, 403),
        _get("/api/pipeline/accounting"),
    ),
    ("GET", "/api/sources"): ((401, 403, 403, A, 403, 403, A, 403), _get("/api/sources")),
    ("POST", "/api/sources"): ((401, 403, 403, R, 403, 403, R, 403), create_source),
    ("GET", "/api/sources/<source_id>"): (
        (401, 403, 403, A, 403, 403, 404, 403),
        _with("/api/sources/{source}"),
    ),
    ("PUT", "/api/sources/<source_id>"): ((401, 403, 403, A, 403, 403, 404, 403), update_source),
    ("DELETE", "/api/sources/<source_id>"): ((401, 403, 403, X, 403, 403, 404, 403), delete_source),
    ("GET", "/api/alerts"): ((401, A, A, A, 403, A, A, A), _get("/api/alerts")),
    ("POST", "/api/alerts"): ((401, 403, R, R, 403, 403, R, 403), create_rule),
    ("POST", "/api/alerts/preview"): ((401, 403, A, A, 403, 403, A, 403), _preview),
    ("GET", "/api/alerts/<rule_id>"): (
        (401, A, A, A, 403, A, 404, 404),
        _with("/api/alerts/{rule}"),
    ),
    ("PUT", "/api/alerts/<rule_id>"): ((401, 403, A, A, 403, 403, 404, 403), update_rule),
    ("DELETE", "/api/alerts/<rule_id>"): ((401, 403, X, X, 403, 403, 404, 403), delete_rule),
    ("POST", "/api/alerts/<rule_id>/silence"): ((401, 403, A, A, 403, 403, 404, 403), silence_rule),
    ("GET", "/api/incidents"): ((401, A, A, A, 403, A, A, A), _get("/api/incidents")),
    ("GET", "/api/incidents/<incident_id>"): (
        (401, A, A, A, 403, A, 404, 404),
        _with("/api/incidents/{incident}"),
    ),
    ("POST", "/api/incidents/<incident_id>/ack"): ((401, A, A, A, 403, 403, 404, 403), acknowledge),
    ("GET", "/api/notifications"): ((401, A, A, A, 403, 403, A, 403), _get("/api/notifications")),
    # another user's notification is as absent as another tenant's
    ("POST", "/api/notifications/<notification_id>/read"): (
        (401, A, 404, 404, 403, 403, 404, 403),
        read_viewer_notification,
    ),
    ("POST", "/api/notifications/read-all"): ((401, A, A, A, 403, 403, A, 403), read_all),
    # embed tokens: analysts, admins and keys of scope embed (none of the matrix's keys)
    ("POST", "/api/embed-tokens"): ((401, 403, R, R, 403, 403, 404, 403), create_embed_token),
    ("GET", "/api/embed-tokens"): ((401, 403, A, A, 403, 403, A, 403), _get("/api/embed-tokens")),
    ("DELETE", "/api/embed-tokens/<jti>"): (
        (401, 403, X, X, 403, 403, 404, 403),
        revoke_embed_token,
    ),
    # the audit log: admins signed in only, never a key; B's admin reads B's log, not A's
    # (sources only: B's log rightly holds B's own requests naming A's metric, its exports)
    ("GET", "/api/audit"): ((401, 403, 403, A, 403, 403, A, 403), _get(AUDIT)),
    ("GET", "/api/audit/export"): ((401, 403, 403, A, 403, 403, A, 403), _get(AUDIT_CSV)),
}
