"""Every request has an id, echoed to the client and written on every log line with the
tenant the request was for."""

from __future__ import annotations

import json
import logging
import time

import pytest

from app.logs import ContextFilter, JsonFormatter


def test_a_request_id_is_echoed_or_made(web) -> None:
    client = web.test_client()
    made = client.get("/healthz").headers["X-Request-ID"]
    assert len(made) == 32
    assert (
        client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"]
        == "abc-123"
    )
    too_long = "x" * 65
    assert (
        client.get("/healthz", headers={"X-Request-ID": too_long}).headers["X-Request-ID"]
        != too_long
    )


def test_log_lines_of_a_request_name_its_id_and_tenant(
    web, tenant: str, ingest_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(ContextFilter())
    caplog.set_level(logging.INFO, logger="app.api.intake")
    bad = [
        {"source": "web-1", "metric_type": "cpu.usage", "timestamp": time.time(), "value": "high"}
    ]
    resp = web.test_client().post(
        "/api/ingest",
        json=bad,
        headers={"Authorization": f"Bearer {ingest_key}", "X-Request-ID": "req-42"},
    )
    assert resp.status_code == 422
    records = [r for r in caplog.records if r.name == "app.api.intake"]
    assert [(r.request_id, r.tenant) for r in records] == [("req-42", tenant)]
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["request_id"] == "req-42" and line["tenant"] == tenant
    assert line["message"] == "refused 1 points: 1 problem(s)"
    assert line["level"] == "INFO" and line["time"].endswith("Z")
