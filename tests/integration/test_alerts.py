"""Alerts end to end against real PostgreSQL and Redis: evaluation in the worker, incidents,
notifications per recipient, the /ws push, signed webhooks, e-mail over SMTP, restarts,
nodata, source.down, tenant isolation, and the API's validation and roles.

Mocks stay at the edge: a local HTTP receiver for webhooks, a local SMTP server (aiosmtpd),
and the clock where a test needs time to pass."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text

from app.services import Services
from app.worker.alert_evaluator import AlertEngine
from app.worker.deliveries import SIGNATURE_HEADER, Deliverer
from data.domain.points import Point
from data.stores.accounts import User
from data.stores.events import Events
from tests.alerts_support import rule_doc, rules_of
from tests.conftest import (
    FakeClock,
    LiveServer,
    free_port,
    new_tenant,
    signed_in,
    wait_until,
    with_settings,
)

# -- edge doubles -----------------------------------------------------------------------------


class Receiver:
    """A local HTTP server recording webhook calls; answers `status` (a list is consumed)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.calls.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


class Mailbox:
    """aiosmtpd's handler: keeps every message."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def deliverer(services: Services, smtp_port: int | None = None) -> Deliverer:
    update: dict[str, Any] = {"alert_retry_base_s": 0.05}
    if smtp_port is not None:
        update.update(smtp_host="127.0.0.1", smtp_port=smtp_port)
    return Deliverer(with_settings(services, **update))


# -- helpers --------------------------------------------------------------------------------


def judged_up_to(services: Services, rule_id: str, source: str) -> int:
    """The time of the newest point the rule has judged on that source (-1 before any)."""
    state = services.redis.hget(rules_of(services).state_key(rule_id), source)
    last = orjson.loads(state).get("l") if state else None
    return -1 if last is None else int(last)


def now_ms() -> int:
    return int(time.time() * 1000)


def points(
    values: list[float], metric: str = "cpu.usage", source: str = "web-1", start: int | None = None
) -> list[Point]:
    base = start if start is not None else now_ms() - len(values) * 1000
    return [
        Point(uuid.uuid4().hex, source, metric, base + i * 1000, float(v))
        for i, v in enumerate(values)
    ]


def count(services: Services, sql: str, **params: Any) -> int:
    with services.engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def incidents_of(services: Services, tenant: str) -> int:
    return count(services, "SELECT count(*) FROM incidents WHERE tenant_id = :t", t=tenant)


def notifications_of(services: Services, tenant: str, state: str | None = None) -> int:
    sql = "SELECT count(*) FROM notifications WHERE tenant_id = :t"
    if state:
        sql += " AND state = :s"
    return count(services, sql, t=tenant, s=state)


@pytest.fixture(autouse=True)
def no_deliveries_of_other_tests(services: Services) -> None:
    """The deliverer serves every tenant: leave it only this test's rows to send."""
    with services.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE alert_deliveries SET status = 'failed'"
                " WHERE status NOT IN ('sent', 'failed')"
            )
        )


@pytest.fixture
def analyst(web: Any, tenant: str, make_user: Callable[..., User]) -> Any:
    return signed_in(web, make_user(tenant, "analyst"))


class Pushes:
    """Notification messages published for a tenant's sockets (the hub's input)."""

    def __init__(self, services: Services, tenant: str) -> None:
        self.pubsub = services.redis.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(services.live.notice_channel(tenant))
        self.pubsub.get_message(timeout=1)

    def drain(self, wait_s: float = 0.3) -> list[dict[str, Any]]:
        out = []
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            message = self.pubsub.get_message(timeout=0.05)
            if message:
                out.append(orjson.loads(message["data"]))
        return out


def assert_standard_webhook(call: dict[str, Any], secret: str) -> None:
    """The call verifies as a Standard Webhook: v1 HMAC over "{id}.{timestamp}.{body}" with
    the secret's text as key, and a timestamp of now (what lets a receiver refuse replays)."""
    headers = {k.lower(): v for k, v in call["headers"].items()}
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    assert abs(int(timestamp) - time.time()) < 300
    signed = f"{msg_id}.{timestamp}.".encode() + call["body"]
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    assert headers["webhook-signature"] == "v1," + base64.b64encode(digest).decode()
    assert msg_id == headers["x-pulse-delivery"]


# -- the whole way round ------------------------------------------------------------------------


# One breach followed end to end: incident, notifications, /ws, webhook and mail, in order.
# long: that one scenario, step by step (PLR0915 allowed for the same reason)
def test_a_breach_makes_one_incident_one_notification_each_one_ws_message_webhook_and_mail(  # noqa: PLR0915
    live_server: LiveServer,
    services: Services,
    web: Any,
    tenant: str,
    ingest_key: str,
    make_user: Callable[..., User],
    receiver: Receiver,
    mailbox: tuple[Mailbox, int],
) -> None:
    from tests.gateway.conftest import session_cookie
    from tests.gateway.test_ws import ingest, open_ws, point, receive, run, send, settle

    viewer = make_user(tenant, "viewer")
    users = [make_user(tenant, "admin"), make_user(tenant, "analyst"), viewer]
    gone = make_user(tenant, "viewer")
    services.accounts.set_active(gone.user_id, False)  # not a recipient
    box, smtp_port = mailbox
    client = signed_in(web, users[1])
    resp = client.post(
        "/api/alerts",
        json=rule_doc(
            channels=["in_app", "webhook", "email"],
            webhook_url=receiver.url,
            email_to=["oncall@example.com"],
        ),
    )
    assert resp.status_code == 201, resp.json
    rule = resp.json
    cookie = session_cookie(live_server, viewer)

    async def scenario() -> list[dict]:
        async with open_ws(live_server, origin=live_server.url, cookie=cookie) as ws:
            await send(ws, {"type": "subscribe", "metrics": ["marker.seen"]})
            await settle(ws)
            await ingest(
                live_server, ingest_key, [point("cpu.usage", 50.0), point("cpu.usage", 91.2)]
            )
            got = []
            while not got:
                message = await receive(ws)
                if message["type"] == "notification":
                    got.append(message)
            still_ts = now_ms()
            await ingest(live_server, ingest_key, [point("cpu.usage", 95.0, ts_ms=still_ts)])
            # Before proving that no second notification comes: the rule has judged the 95.0
            # (a notification of it would be published before its state is saved) ...
            await asyncio.to_thread(
                wait_until, lambda: judged_up_to(services, rule["id"], "web-1") >= still_ts
            )
            # ... and a point published after that reaches the socket behind all it caused.
            await ingest(live_server, ingest_key, [point("marker.seen", 1.0)])
            while (message := await receive(ws))["type"] != "points":
                if message["type"] == "notification":
                    got.append(message)
            return got

    messages = run(scenario())
    assert len(messages) == 1
    note = messages[0]["notification"]
    assert note["message"] == "CPU hot: cpu.usage 91.2 > 80 on web-1"
    assert note["state"] == "firing" and note["severity"] == "critical"
    assert note["rule_id"] == rule["id"] and note["read"] is False
    assert note["metric"] == "cpu.usage" and note["source"] == "web-1" and note["value"] == 91.2
    assert messages[0]["unread"] == 1
    wait_until(lambda: notifications_of(services, tenant) == 3)
    assert incidents_of(services, tenant) == 1
    recipients = count(
        services,
        "SELECT count(DISTINCT user_id) FROM notifications WHERE tenant_id = :t AND user_id <> :g",
        t=tenant,
        g=gone.user_id,
    )
    assert recipients == 3

    sender = deliverer(services, smtp_port)
    wait_until(lambda: sender.run_once() == 0 and len(receiver.calls) == len(box.messages) == 1)
    call = receiver.calls[0]
    expected = (
        "sha256="
        + hmac.new(rule["webhook_secret"].encode(), call["body"], hashlib.sha256).hexdigest()
    )
    assert call["headers"][SIGNATURE_HEADER] == expected
    assert_standard_webhook(call, rule["webhook_secret"])
    body = orjson.loads(call["body"])
    assert body["state"] == "firing" and body["message"] == note["message"]
    assert box.messages[0]["To"] == "oncall@example.com"
    assert "CPU hot" in box.messages[0]["Subject"]
    assert sender.run_once() == 0  # nothing is sent twice
    assert len(receiver.calls) == 1 and len(box.messages) == 1

    # the viewer's API view, then recovery: one resolved notification each
    viewer_client = signed_in(web, viewer)
    listed = viewer_client.get("/api/notifications").json
    assert (
        listed["unread"] == 1
        and listed["notifications"][0]["notification_id"] == note["notification_id"]
    )
    run(ingest(live_server, ingest_key, [point("cpu.usage", 10.0)]))
    wait_until(lambda: notifications_of(services, tenant, "resolved") == 3)
    incident = viewer_client.get("/api/incidents").json["incidents"][0]
    assert incident["state"] == "resolved" and incident["resolved_value"] == 10.0
    wait_until(lambda: sender.run_once() == 0 and len(receiver.calls) == 2)
    assert orjson.loads(receiver.calls[1]["body"])["state"] == "resolved"
    sender.close()


# -- restarts and idempotency --------------------------------------------------------------


class Crash(BaseException):
    """A worker dying mid-evaluation (not an Exception: nothing catches it)."""


def test_a_worker_killed_after_recording_and_restarted_duplicates_nothing(
    services: Services,
    web: Any,
    tenant: str,
    analyst: Any,
    make_user: Callable[..., User],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_user(tenant, "viewer")
    resp = analyst.post(
        "/api/alerts", json=rule_doc(channels=["in_app", "webhook"], webhook_url=receiver.url)
    )
    assert resp.status_code == 201
    batch = {tenant: points([10, 90, 95])}
    pushes = Pushes(services, tenant)
    dying = AlertEngine(services)

    def crash(*args: Any) -> None:
        raise Crash

    monkeypatch.setattr(dying, "_save", crash)  # dies after recording, before saving state
    with pytest.raises(Crash):
        dying.evaluate_batch(batch)
    assert incidents_of(services, tenant) == 1
    assert notifications_of(services, tenant) == 2
    assert len(pushes.drain()) == 1

    restarted = AlertEngine(services)  # a new process: empty caches, the same stores
    restarted.evaluate_batch(batch)  # the unacknowledged batch, redelivered
    assert incidents_of(services, tenant) == 1  # nothing new is written
    assert notifications_of(services, tenant) == 2
    assert (
        count(services, "SELECT count(*) FROM alert_deliveries WHERE tenant_id = :t", t=tenant) == 1
    )
    assert pushes.drain() == []
    # and a third time, now that the state is saved: nothing at all
    assert restarted.evaluate_batch(batch).transitions == 0
    sender = deliverer(services)
    wait_until(lambda: sender.run_once() == 0 and len(receiver.calls) == 1)
    sender.close()


def test_a_lost_state_adopts_the_open_incident_instead_of_opening_another(
    services: Services,
    tenant: str,
    analyst: Any,
    make_user: Callable[..., User],
) -> None:
    make_user(tenant, "viewer")
    rule = analyst.post("/api/alerts", json=rule_doc()).json
    engine = AlertEngine(services)
    engine.evaluate_batch({tenant: points([90], start=now_ms() - 5000)})
    services.redis.delete(rules_of(services).state_key(rule["id"]))
    engine.evaluate_batch({tenant: points([95], start=now_ms() - 3000)})  # still breaching
    assert incidents_of(services, tenant) == 1
    engine.evaluate_batch({tenant: points([10], start=now_ms() - 1000)})
    assert notifications_of(services, tenant, "resolved") == 2  # one per recipient


def test_rule_changes_apply_to_the_next_batch_without_a_restart(
    services: Services,
    tenant: str,
    analyst: Any,
    make_user: Callable[..., User],
) -> None:
    make_user(tenant, "viewer")
    engine = AlertEngine(services)
    assert engine.evaluate_batch({tenant: points([90])}).series == 0  # no rules yet
    rule = analyst.post("/api/alerts", json=rule_doc(threshold=100)).json
    assert engine.evaluate_batch({tenant: points([90], start=now_ms() - 4000)}).transitions == 0
    analyst.put(f"/api/alerts/{rule['id']}", json={"threshold": 50, "clear_threshold": 40})
    assert engine.evaluate_batch({tenant: points([90], start=now_ms() - 3000)}).transitions == 1
    analyst.put(f"/api/alerts/{rule['id']}", json={"enabled": False})
    assert engine.evaluate_batch({tenant: points([10], start=now_ms() - 2000)}).series == 0


def test_silenced_rule_opens_no_incident(
    services: Services,
    tenant: str,
    analyst: Any,
    make_user: Callable[..., User],
) -> None:
    make_user(tenant, "viewer")
    rule = analyst.post("/api/alerts", json=rule_doc()).json
    resp = analyst.post(f"/api/alerts/{rule['id']}/silence", json={"for_s": 3600})
    assert resp.status_code == 200 and resp.json["silenced_until"]
    engine = AlertEngine(services)
    engine.evaluate_batch({tenant: points([90, 95])})
    assert incidents_of(services, tenant) == 0
    lifted = analyst.post(f"/api/alerts/{rule['id']}/silence", json={"until": None})
    assert lifted.status_code == 200 and lifted.json["silenced_until"] is None
    engine.evaluate_batch({tenant: points([96], start=now_ms())})
    assert incidents_of(services, tenant) == 1


def test_rule_times_and_silences_follow_the_injected_clock(
    tenant: str,
    analyst: Any,
    make_user: Callable[..., User],
    clock: FakeClock,
) -> None:
    """Created, updated and silenced-until are the product's clock's times, not the wall's."""
    make_user(tenant, "viewer")
    clock.advance(86_400)
    rule = analyst.post("/api/alerts", json=rule_doc()).json
    assert abs(epoch_s(rule["created_at"]) - clock()) < 5
    silenced = analyst.post(f"/api/alerts/{rule['id']}/silence", json={"for_s": 3600}).json
    assert abs(epoch_s(silenced["updated_at"]) - clock()) < 5
    assert abs(epoch_s(silenced["silenced_until"]) - (clock() + 3600)) < 5


def test_acknowledgement_is_stamped_by_the_injected_clock(
    services: Services,
    web: Any,
    tenant: str,
    analyst: Any,
    make_user: Callable[..., User],
    clock: FakeClock,
) -> None:
    viewer = signed_in(web, make_user(tenant, "viewer"))
    analyst.post("/api/alerts", json=rule_doc())
    AlertEngine(services).evaluate_batch({tenant: points([90])})
    incident = viewer.get("/api/incidents?state=firing").json["incidents"][0]
    clock.advance(3_600)
    acked = viewer.post(f"/api/incidents/{incident['id']}/ack").json
    assert abs(epoch_s(acked["acknowledged_at"]) - clock()) < 5


def epoch_s(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


# -- nodata and source.down -----------------------------------------------------------------


def test_nodata_fires_when_a_series_stops_and_resolves_when_it_returns(
    services: Services,
    tenant: str,
    analyst: Any,
    make_user: Callable[..., User],
) -> None:
    make_user(tenant, "viewer")
    analyst.post(
        "/api/alerts",
        json={
            "name": "Feed stopped",
            "metric": "orders.rate",
            "kind": "nodata",
            "window_s": 30,
            "cooldown_s": 0,
        },
    )
    start = now_ms()
    services.live.publish_points(tenant, points([1.0], metric="orders.rate", start=start))
    clock = {"now": start / 1000 + 10}
    engine = AlertEngine(dataclasses.replace(services, clock=lambda: clock["now"]))
    assert engine.check_nodata().transitions == 0
    clock["now"] = start / 1000 + 31
    assert engine.check_nodata().transitions == 1
    assert engine.check_nodata().transitions == 0  # once
    with services.engine.connect() as conn:
        row = conn.execute(
            text("SELECT cause, state, message FROM incidents WHERE tenant_id = :t"), {"t": tenant}
        ).one()
    assert row.cause == "nodata" and row.state == "firing"
    assert "no data from orders.rate for 30s on web-1" in row.message
    services.live.publish_points(tenant, points([2.0], metric="orders.rate", start=start + 32_000))
    clock["now"] = start / 1000 + 33
    assert engine.check_nodata().transitions == 1
    assert notifications_of(services, tenant, "resolved") == 2  # analyst and viewer


def test_source_down_event_fires_a_rule_and_source_up_resolves_it(
    services: Services,
    tenant: str,
    analyst: Any,
    make_user: Callable[..., User],
) -> None:
    make_user(tenant, "viewer")
    analyst.post(
        "/api/alerts",
        json={
            "name": "Source down",
            "metric": "db.rows",
            "source": "*",
            "kind": "nodata",
            "window_s": 60,
            "source_down": True,
            "cooldown_s": 0,
        },
    )
    engine = AlertEngine(services)
    consumer = f"test-{uuid.uuid4().hex[:6]}"
    engine.consume_events(consumer)  # the group exists from here on
    events = Events(services.redis, services.settings.redis_prefix)
    events.publish(
        "source.down",
        tenant,
        source_id="x",
        name="orders-db",
        kind="sql",
        error="connection refused",
        at="",
    )
    events.publish("source.down", "another-tenant", name="orders-db", error="", at="")
    assert engine.consume_events(consumer).transitions == 1
    assert engine.consume_events(consumer).transitions == 0  # each event once
    assert incidents_of(services, tenant) == 1
    with services.engine.connect() as conn:
        message = conn.execute(
            text("SELECT message FROM incidents WHERE tenant_id = :t"), {"t": tenant}
        ).scalar_one()
    assert "source orders-db is down (connection refused)" in message
    events.publish("source.up", tenant, name="orders-db", error="", at="")
    assert engine.consume_events(consumer).transitions == 1
    assert notifications_of(services, tenant, "resolved") == 2  # analyst and viewer
    # The group is made once, not every second; a Redis that lost it (restarted empty)
    # gets it made again, and the events published after that are judged.
    services.redis.delete(events.key)
    assert engine.consume_events(consumer).transitions == 0
    events.publish("source.down", tenant, name="orders-db", error="again", at="")
    assert engine.consume_events(consumer).transitions == 1


# -- tenants ---------------------------------------------------------------------------------


def test_tenants_never_see_each_others_rules_incidents_or_notifications(
    services: Services,
    web: Any,
    tenant: str,
    analyst: Any,
    make_user: Callable[..., User],
) -> None:
    make_user(tenant, "viewer")
    rule = analyst.post("/api/alerts", json=rule_doc()).json
    pushes = Pushes(services, tenant)
    AlertEngine(services).evaluate_batch({tenant: points([90])})
    incident = analyst.get("/api/incidents").json["incidents"][0]
    note = analyst.get("/api/notifications").json["notifications"][0]
    assert len(pushes.drain()) == 1

    other = new_tenant(services)
    stranger = signed_in(web, make_user(other, "admin"))
    other_pushes = Pushes(services, other)
    AlertEngine(services).evaluate_batch({other: points([99])})  # no rule there
    assert other_pushes.drain() == []
    assert stranger.get("/api/alerts").json == {"alerts": []}
    assert stranger.get(f"/api/alerts/{rule['id']}").status_code == 404
    assert stranger.put(f"/api/alerts/{rule['id']}", json={"threshold": 1}).status_code == 404
    assert stranger.delete(f"/api/alerts/{rule['id']}").status_code == 404
    assert stranger.post(f"/api/alerts/{rule['id']}/silence", json={"for_s": 5}).status_code == 404
    assert stranger.get("/api/incidents").json == {"incidents": []}
    assert stranger.post(f"/api/incidents/{incident['id']}/ack").status_code == 404
    assert stranger.get("/api/notifications").json["notifications"] == []
    assert stranger.post(f"/api/notifications/{note['notification_id']}/read").status_code == 404


# -- the API -----------------------------------------------------------------------------------


def test_rule_crud_answers_per_the_contract_and_writes_the_audit_log(
    services: Services,
    web: Any,
    tenant: str,
    analyst: Any,
) -> None:
    resp = analyst.post("/api/alerts", json=rule_doc())
    assert resp.status_code == 201
    rule = resp.json
    assert {k: rule[k] for k in rule_doc()} == rule_doc()
    assert rule["id"] and rule["silenced_until"] is None
    assert analyst.get(f"/api/alerts/{rule['id']}").json["threshold"] == 80
    changed = analyst.put(f"/api/alerts/{rule['id']}", json={"name": "CPU very hot"}).json
    assert changed["name"] == "CPU very hot" and changed["threshold"] == 80
    listed = analyst.get("/api/alerts").json["alerts"]
    assert [r["id"] for r in listed] == [rule["id"]]
    assert analyst.delete(f"/api/alerts/{rule['id']}").status_code == 204
    assert analyst.get(f"/api/alerts/{rule['id']}").status_code == 404
    actions = count(
        services,
        "SELECT count(*) FROM audit_log WHERE tenant_id = :t AND action LIKE 'alert.%'",
        t=tenant,
    )
    assert actions == 3


@pytest.mark.parametrize(
    ("doc", "fields"),
    [
        ({"name": "x"}, {"metric", "kind"}),
        (rule_doc(kind="sometimes"), {"kind"}),
        (rule_doc(threshold=None), {"threshold"}),
        (rule_doc(clear_threshold=90), {"clear_threshold"}),
        (rule_doc(op="=="), {"op"}),
        (rule_doc(severity="urgent", cooldown_s=-1), {"severity", "cooldown_s"}),
        (rule_doc(metric="bad metric!"), {"metric"}),
        (rule_doc(channels=["webhook"]), {"webhook_url"}),
        (rule_doc(channels=["webhook"], webhook_url="ftp://x"), {"webhook_url"}),
        (rule_doc(channels=["email"], email_to=["not-an-address"]), {"email_to"}),
        (rule_doc(channels=["pager"]), {"channels.0"}),
        ({**rule_doc(), "threshold": "high"}, {"threshold"}),
        ({**rule_doc(), "extra": 1}, {"extra"}),
        ({"name": "r", "metric": "m", "kind": "rate", "window_s": 60}, {"change_pct"}),
        ({"name": "r", "metric": "m", "kind": "spike", "zscore": 3}, {"window_s"}),
        ({"name": "r", "metric": "m", "kind": "nodata"}, {"window_s"}),
    ],
)
def test_bad_rules_answer_422_with_a_detail_per_field(
    analyst: Any,
    doc: dict[str, Any],
    fields: set[str],
) -> None:
    resp = analyst.post("/api/alerts", json=doc)
    assert resp.status_code == 422, resp.json
    assert resp.json["error"]["code"] == "invalid_rule"
    assert {d["field"] for d in resp.json["error"]["details"]} == fields


def test_roles_viewers_and_read_keys_read_rules_only_editors_write(
    services: Services,
    web: Any,
    tenant: str,
    analyst: Any,
    make_user: Callable[..., User],
) -> None:
    rule = analyst.post(
        "/api/alerts", json=rule_doc(channels=["webhook"], webhook_url="http://127.0.0.1:9/x")
    ).json
    assert rule["webhook_secret"]
    viewer = signed_in(web, make_user(tenant, "viewer"))
    seen = viewer.get("/api/alerts").json["alerts"][0]
    assert "webhook_secret" not in seen
    assert viewer.post("/api/alerts", json=rule_doc()).status_code == 403
    assert viewer.put(f"/api/alerts/{rule['id']}", json={"threshold": 1}).status_code == 403
    assert viewer.delete(f"/api/alerts/{rule['id']}").status_code == 403
    assert viewer.post(f"/api/alerts/{rule['id']}/silence", json={"for_s": 5}).status_code == 403
    assert viewer.post("/api/alerts/preview", json=rule_doc()).status_code == 403
    read_key = services.accounts.create_api_key(tenant, "reader", "read")
    auth = {"Authorization": f"Bearer {read_key}"}
    client = web.test_client()
    assert client.get("/api/alerts", headers=auth).status_code == 200
    assert client.post("/api/alerts", json=rule_doc(), headers=auth).status_code == 403
    assert client.get("/api/notifications", headers=auth).status_code == 403
    assert client.get("/api/alerts").status_code == 401
    assert client.get("/api/notifications").status_code == 401


def test_notifications_order_filters_paging_and_read(
    services: Services,
    web: Any,
    tenant: str,
    analyst: Any,
    make_user: Callable[..., User],
) -> None:
    viewer_user = make_user(tenant, "viewer")
    analyst.post("/api/alerts", json=rule_doc(severity="warning", cooldown_s=0))
    analyst.post(
        "/api/alerts", json=rule_doc(name="Disk", metric="disk.used", severity="info", cooldown_s=0)
    )
    engine = AlertEngine(services)
    base = now_ms() - 30_000
    engine.evaluate_batch(
        {tenant: points([90, 10, 90], start=base) + points([95], metric="disk.used", start=base)}
    )
    viewer = signed_in(web, viewer_user)
    page = viewer.get("/api/notifications").json
    assert page["total"] == 4 and page["unread"] == 4
    stamps = [n["timestamp"] for n in page["notifications"]]
    assert stamps == sorted(stamps, reverse=True)
    first = page["notifications"][-1]
    read = viewer.post(f"/api/notifications/{first['notification_id']}/read")
    assert read.status_code == 200 and read.json["unread"] == 3
    page = viewer.get("/api/notifications").json
    assert page["notifications"][-1]["notification_id"] == first["notification_id"]  # read last
    assert viewer.get("/api/notifications?severity=warning").json["total"] == 3
    assert viewer.get("/api/notifications?unread=1").json["total"] == 3
    assert len(viewer.get("/api/notifications?limit=2&offset=1").json["notifications"]) == 2
    assert viewer.get("/api/notifications?since=now-1m&until=now").json["total"] == 4
    assert viewer.get("/api/notifications?since=now%2B1h").json["total"] == 0
    for bad in ("severity=loud", "limit=0", "since=yesterday"):
        assert viewer.get(f"/api/notifications?{bad}").status_code == 422
    assert viewer.post("/api/notifications/read-all").json["marked"] == 3
    assert viewer.get("/api/notifications").json["unread"] == 0
    # another user's read state is their own
    assert analyst.get("/api/notifications").json["unread"] == 4


def test_incidents_list_and_acknowledge(
    services: Services,
    web: Any,
    tenant: str,
    analyst: Any,
    make_user: Callable[..., User],
) -> None:
    viewer_user = make_user(tenant, "viewer")
    analyst.post("/api/alerts", json=rule_doc())
    AlertEngine(services).evaluate_batch({tenant: points([90])})
    viewer = signed_in(web, viewer_user)
    incident = viewer.get("/api/incidents?state=firing").json["incidents"][0]
    assert incident["acknowledged_at"] is None and incident["deliveries"] == []
    acked = viewer.post(f"/api/incidents/{incident['id']}/ack")
    assert acked.status_code == 200 and acked.json["acknowledged_by"] == viewer_user.user_id
    assert viewer.get("/api/incidents?state=resolved").json["incidents"] == []
    assert viewer.get("/api/incidents?state=maybe").status_code == 422
    assert viewer.post("/api/incidents/not-an-id/ack").status_code == 404


def test_failed_webhooks_are_retried_with_backoff_and_visible_on_the_incident(
    services: Services,
    tenant: str,
    analyst: Any,
    receiver: Receiver,
    clock: FakeClock,
) -> None:
    analyst.post("/api/alerts", json=rule_doc(channels=["webhook"], webhook_url=receiver.url))
    receiver.statuses = [500, 503]
    AlertEngine(services).evaluate_batch({tenant: points([90])})
    sender = Deliverer(
        dataclasses.replace(
            services, settings=services.settings.model_copy(update={"alert_retry_base_s": 60})
        )
    )
    assert sender.run_once() == 1
    delivery = analyst.get("/api/incidents").json["incidents"][0]["deliveries"][0]
    assert delivery["status"] == "retrying" and delivery["attempts"] == 1
    assert "HTTP 500" in delivery["last_error"]
    clock.advance(59)
    assert sender.run_once() == 0  # not due yet: backing off
    clock.advance(2)
    assert sender.run_once() == 1 and len(receiver.calls) == 2  # 503: backs off twice as long
    clock.advance(119)
    assert sender.run_once() == 0
    clock.advance(2)
    assert sender.run_once() == 1 and len(receiver.calls) == 3
    delivery = analyst.get("/api/incidents").json["incidents"][0]["deliveries"][0]
    assert delivery["status"] == "sent" and delivery["attempts"] == 3
    sender.close()


def test_email_without_smtp_fails_visibly(
    services: Services,
    tenant: str,
    analyst: Any,
) -> None:
    analyst.post("/api/alerts", json=rule_doc(channels=["email"], email_to="ops@example.com"))
    AlertEngine(services).evaluate_batch({tenant: points([90])})
    sender = deliverer(services)
    sender.run_once()
    delivery = analyst.get("/api/incidents").json["incidents"][0]["deliveries"][0]
    assert delivery["status"] == "failed" and "SMTP_HOST" in delivery["last_error"]
    sender.close()


def test_preview_replays_the_last_week_of_history(
    services: Services,
    tenant: str,
    analyst: Any,
) -> None:
    start = now_ms() - 3 * 86_400_000
    start -= start % 60_000
    values = [50.0] * 10 + [95.0] * 5 + [50.0] * 10 + [99.0] * 3
    minutes = [p._replace(ts_ms=start + i * 60_000) for i, p in enumerate(points(values))]
    services.history.write_points([(tenant, p) for p in minutes])
    resp = analyst.post("/api/alerts/preview", json=rule_doc(cooldown_s=0))
    assert resp.status_code == 200, resp.json
    assert resp.json["fired"] == 2 and resp.json["step"] == "1m"
    series = resp.json["series"][0]
    assert series["source"] == "web-1" and series["points"] == len(values)
    first, second = series["firings"]
    assert first["value"] == 95.0 and first["resolved_at"] is not None
    assert second["value"] == 99.0 and second["resolved_at"] is None
    assert analyst.post("/api/alerts/preview", json={"name": "x"}).status_code == 422
    assert analyst.post("/api/alerts/preview", json={**rule_doc(), "days": 30}).status_code == 422
