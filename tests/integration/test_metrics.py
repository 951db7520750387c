"""GET /metrics: Pulse's own figures in Prometheus text, parsed back with prometheus_client."""

from __future__ import annotations

import time
import uuid

from prometheus_client.parser import text_string_to_metric_families

from app.services import Services


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:  # type: ignore[no-untyped-def]
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.content_type.startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(resp.get_data(as_text=True))
        for sample in family.samples
    }


def point(value: float) -> dict:
    return {
        "data_id": uuid.uuid4().hex,
        "source": "web-1",
        "metric_type": "cpu.usage",
        "timestamp": time.time(),
        "value": value,
    }


def test_metrics_need_no_session_and_count_accepted_and_refused_points(
    web, ingest_key: str
) -> None:
    client = web.test_client()
    auth = {"Authorization": f"Bearer {ingest_key}"}
    before = scrape(client)
    assert (
        client.post("/api/ingest", json=[point(1), point(2), point(3)], headers=auth).status_code
        == 202
    )
    bad = [point(1), {**point(2), "value": "high"}]
    assert client.post("/api/ingest", json=bad, headers=auth).status_code == 422
    after = scrape(client)
    accepted = ("pulse_points_accepted_total", ())
    refused = ("pulse_points_refused_total", (("reason", "invalid"),))
    assert after[accepted] - before.get(accepted, 0) == 3
    assert after[refused] - before.get(refused, 0) == 2


def test_metrics_report_the_ingest_streams_state_from_redis(web, services: Services) -> None:
    before = services.live.pipeline_state()
    figures = scrape(web.test_client())
    after = services.live.pipeline_state()  # other tests' workers may bury entries meanwhile
    assert figures[("pulse_stream_length", ())] >= 0
    assert before["dead"] <= figures[("pulse_dead_letters", ())] <= after["dead"]
    for name in (
        "pulse_stream_pending",
        "pulse_stream_lag",
        "pulse_ws_clients",
        "pulse_batch_write_seconds_count",
    ):
        assert any(key[0] == name for key in figures), name
