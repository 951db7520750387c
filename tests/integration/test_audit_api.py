"""GET /api/audit and /api/audit/export (CONTRACT.md §8 Audit): admins of the tenant only,
newest first, keyset pages that neither skip nor repeat, filters by actor, action prefix and
period, bad parameters a 422 naming each; and what is audited: sign-ins ok and failed with
their address, data exports and audit exports with their row counts."""

from __future__ import annotations

import csv
import io
import time
import uuid
from typing import Any

import requests

from app.services import Services
from callbacks.explore import export_file
from data.domain.audit_chain import AuditFilter
from data.domain.data_query import parse_query
from data.domain.points import Point
from data.stores.audit import AuditLog, record_audit
from tests.conftest import PASSWORD, LiveServer, new_tenant, signed_in, wait_until


def events(client: Any, **params: Any) -> dict[str, Any]:
    resp = client.get("/api/audit", query_string=params)
    assert resp.status_code == 200, resp.get_json()
    body: dict[str, Any] = resp.get_json()
    return body


def seed(services: Services, tenant: str, actions: list[str], user_id: str | None = None) -> None:
    for i, action in enumerate(actions):
        with services.engine.begin() as conn:
            record_audit(conn, tenant, user_id, action, f"target-{i}", {"n": i})


def test_an_admin_reads_the_tenants_events_newest_first(web, services, tenant, make_user) -> None:
    admin = make_user(tenant, "admin")
    seed(services, tenant, ["rule.create", "rule.update"], admin.user_id)
    seed(services, new_tenant(services), ["rule.delete"])
    body = events(signed_in(web, admin), action="rule.")
    assert [e["action"] for e in body["events"]] == ["rule.update", "rule.create"]
    first = body["events"][0]
    assert set(first) >= {"at", "actor", "action", "target", "ip", "details"}
    assert first["actor"] == admin.username
    assert first["target"] == "target-1" and first["details"] == {"n": 1}
    assert body["next"] is None


def test_pages_follow_next_without_skipping_or_repeating(web, services, tenant, make_user) -> None:
    admin = make_user(tenant, "admin")
    seed(services, tenant, [f"rule.n{i}" for i in range(5)])
    client = signed_in(web, admin)
    page = events(client, action="rule.", limit=2)
    seen = [e["action"] for e in page["events"]]
    seed(services, tenant, ["rule.late"])  # arrives while paging: not in the older pages
    while page["next"] is not None:
        page = events(client, action="rule.", limit=2, before=page["next"])
        seen += [e["action"] for e in page["events"]]
    assert seen == [f"rule.n{i}" for i in reversed(range(5))]


def test_filters_by_actor_and_period(web, services, tenant, make_user) -> None:
    admin, analyst = make_user(tenant, "admin"), make_user(tenant, "analyst")
    seed(services, tenant, ["source.create"], analyst.user_id)
    seed(services, tenant, ["source.update"], admin.user_id)
    client = signed_in(web, admin)
    mine = events(client, actor=analyst.username, action="source.")
    assert [e["action"] for e in mine["events"]] == ["source.create"]
    assert events(client, action="source.", since="now+1h")["events"] == []
    assert len(events(client, action="source.", since="now-1h", until="now+1m")["events"]) == 2
    assert events(client, action="source.", until="now-1h")["events"] == []


def test_bad_parameters_are_a_422_naming_each(web, tenant, make_user) -> None:
    client = signed_in(web, make_user(tenant, "admin"))
    resp = client.get(
        "/api/audit", query_string={"limit": "0", "before": "x", "since": "soon", "until": "nope"}
    )
    assert resp.status_code == 422
    fields = {d["field"] for d in resp.get_json()["error"]["details"]}
    assert fields == {"limit", "before", "since", "until"}
    resp = client.get("/api/audit/export", query_string={"since": "now", "until": "now-1h"})
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"][0]["field"] == "until"


def test_only_admins_signed_in_may_read_it(web, client, services, tenant, make_user) -> None:
    assert client.get("/api/audit").status_code == 401
    for role in ("viewer", "analyst"):
        assert signed_in(web, make_user(tenant, role)).get("/api/audit").status_code == 403
    for scope in ("read", "ingest", "embed"):
        key = services.accounts.create_api_key(tenant, f"k-{scope}", scope)
        for path in ("/api/audit", "/api/audit/export"):
            resp = client.get(path, headers={"Authorization": f"Bearer {key}"})
            assert resp.status_code == 403, (path, scope)


def test_the_csv_export_streams_the_filter_and_is_audited(web, services, tenant, make_user) -> None:
    admin = make_user(tenant, "admin")
    seed(services, tenant, ["rule.create", "rule.update", "=cmd.evil"], admin.user_id)
    client = signed_in(web, admin)
    resp = client.get("/api/audit/export", query_string={"action": "rule."})
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert [r["action"] for r in rows] == ["rule.update", "rule.create"]
    assert rows[0]["actor"] == admin.username and rows[0]["details"] == '{"n": 1}'
    every = list(csv.DictReader(io.StringIO(client.get("/api/audit/export").get_data(True))))
    assert "'=cmd.evil" in [r["action"] for r in every]  # a spreadsheet shows it as text
    recorded = events(client, action="export.audit")["events"]
    assert [e["details"]["rows"] for e in recorded] == [len(every), 2]
    assert recorded[-1]["details"]["filter"] == {"action": "rule."}


def test_sign_ins_ok_and_failed_are_audited_with_the_address(client, services, make_user) -> None:
    tenant = new_tenant(services)
    admin = make_user(tenant, "admin")
    address = client.environ_base["REMOTE_ADDR"]
    bad = client.post("/login", json={"username": admin.username, "password": "wrong-one!"})
    assert bad.status_code == 401
    bad.close()  # as a server does once sent: the failure is recorded then (app/web/auth.py)
    client.post("/login", json={"username": f"nobody-{uuid.uuid4().hex}", "password": "x" * 9})
    ok = client.post("/login", json={"username": admin.username, "password": PASSWORD})
    assert ok.status_code == 200
    got = events(client, action="auth.")["events"]
    assert [(e["action"], e["target"], e["ip"]) for e in got] == [
        ("auth.sign_in", admin.username, address),
        ("auth.sign_in_failed", admin.username, address),
    ]
    assert got[0]["actor"] == admin.username and got[1]["actor"] is None


def five_points(services: Services, tenant: str) -> None:
    now_ms = int(time.time() * 1000) // 60_000 * 60_000
    services.history.write_points(
        [
            (tenant, Point(uuid.uuid4().hex, "web-1", "cpu", now_ms - i * 60_000, 1.0))
            for i in range(5)
        ]
    )


def test_a_data_export_is_audited_with_its_row_count(web, services, tenant, make_user) -> None:
    five_points(services, tenant)
    admin = make_user(tenant, "admin")
    client = signed_in(web, admin)
    params = {"metric": "cpu", "start": "now-1h", "end": "now+1m", "step": "1m", "format": "csv"}
    resp = client.get("/api/export", query_string=params)
    assert resp.status_code == 200
    data_rows = len(resp.get_data(as_text=True).strip().splitlines()) - 1
    assert data_rows == 5
    xlsx = client.get("/api/export", query_string={**params, "format": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.get_data()[:2] == b"PK"  # read: then recorded
    recorded = events(client, action="export.data")["events"]
    assert [(e["details"]["format"], e["details"]["rows"]) for e in recorded] == [
        ("xlsx", 5),
        ("csv", 5),
    ]
    assert recorded[0]["details"]["metrics"] == ["cpu"] and recorded[0]["actor"] == admin.username


def test_another_tenants_events_never_show(web, services, make_user) -> None:
    mine, theirs = new_tenant(services), new_tenant(services)
    their_admin = make_user(theirs, "admin")
    seed(services, theirs, ["dashboard.share"], their_admin.user_id)
    client = signed_in(web, make_user(mine, "admin"))
    assert events(client, action="dashboard.")["events"] == []
    assert events(client, actor=their_admin.username)["events"] == []
    export_rows = client.get("/api/audit/export", query_string={"action": "dashboard."})
    assert export_rows.get_data(as_text=True).strip().splitlines() == [
        "at,actor,action,target,ip,details"
    ]


def test_an_export_from_the_explore_page_is_audited_too(services, tenant, make_user) -> None:
    five_points(services, tenant)
    analyst = make_user(tenant, "analyst")
    args = {"metric": ["cpu"], "start": ["now-1h"], "end": ["now+1m"], "step": ["1m"]}
    query = parse_query(args, services.now_ms(), max_buckets=None)
    sent = export_file(services, analyst, query, "UTC", "xlsx")
    recorded, _ = AuditLog(services.engine).page(tenant, AuditFilter(action="export."))
    assert [(e.action, e.target, e.actor) for e in recorded] == [
        ("export.data", sent["filename"], analyst.username)
    ]
    assert recorded[0].details["rows"] == 5 and recorded[0].details["format"] == "xlsx"


def test_a_served_failed_sign_in_is_recorded_once_the_answer_is_sent(
    live_server: LiveServer, services, make_user
) -> None:
    tenant = new_tenant(services)
    user = make_user(tenant, "viewer")
    sent = {"username": user.username, "password": "not-the-password"}
    assert requests.post(live_server.url + "/login", json=sent, timeout=10).status_code == 401
    log = AuditLog(services.engine)
    wait_until(lambda: len(log.page(tenant, AuditFilter(action="auth."))[0]) == 1, 10)
