"""POST /api/sources/{id}/test ("Test now"): one poll, its answer shown, nothing stored:
neither points nor state nor health; admins of the tenant only."""

from __future__ import annotations

from typing import Any

import pytest

from app.services import Services
from data.stores.accounts import User
from data.stores.sources import SourceStore
from tests.conftest import free_port, new_tenant, signed_in


@pytest.fixture
def admin(web: Any, tenant: str, make_user: Any) -> Any:
    return signed_in(web, make_user(tenant, "admin"))


def test_a_trial_poll_shows_the_points_and_stores_nothing(
    admin: Any, services: Services, tenant: str
) -> None:
    doc = {"name": "demo-trial", "kind": "demo", "config": {"seed": 3}, "enabled": False}
    source_id = admin.post("/api/sources", json=doc).get_json()["id"]
    before = services.live.read_since(tenant, "0-0")
    resp = admin.post(f"/api/sources/{source_id}/test", json={})
    assert resp.status_code == 200, resp.get_json()
    trial = resp.get_json()
    assert trial["ok"] is True and trial["error"] is None
    assert trial["points"] > 0 and 0 < len(trial["sample"]) <= 5
    assert {"metric", "source", "timestamp", "value"} <= set(trial["sample"][0])
    source = SourceStore(services.engine).get(tenant, source_id)
    assert source is not None
    assert (source.last_success_at, source.consecutive_failures, source.state) == (None, 0, {})
    assert services.live.read_since(tenant, "0-0") == before


def test_a_failing_trial_poll_answers_its_error_without_counting_a_failure(
    admin: Any, services: Services, tenant: str
) -> None:
    url = f"http://127.0.0.1:{free_port()}/metrics"  # nobody listens there
    doc = {"name": "down", "kind": "prometheus", "config": {"url": url}, "timeout_s": 2}
    source_id = admin.post("/api/sources", json=doc).get_json()["id"]
    trial = admin.post(f"/api/sources/{source_id}/test", json={}).get_json()
    assert trial["ok"] is False and "cannot reach 127.0.0.1" in trial["error"]
    source = SourceStore(services.engine).get(tenant, source_id)
    assert source is not None and source.consecutive_failures == 0


def test_other_tenants_and_lesser_roles_cannot_test_a_source(
    web: Any, admin: Any, services: Services, tenant: str, make_user: Any
) -> None:
    doc = {"name": "mine", "kind": "demo", "config": {}, "enabled": False}
    source_id = admin.post("/api/sources", json=doc).get_json()["id"]
    other: User = make_user(new_tenant(services), "admin")
    assert signed_in(web, other).post(f"/api/sources/{source_id}/test", json={}).status_code == 404
    analyst = signed_in(web, make_user(tenant, "analyst"))
    assert analyst.post(f"/api/sources/{source_id}/test", json={}).status_code == 403
    assert admin.post("/api/sources/nope/test", json={}).status_code == 404
