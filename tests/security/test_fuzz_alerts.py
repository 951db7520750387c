"""POST /api/alerts and /api/alerts/preview with generated rule bodies: never a 5xx; a
refusal is the contract's error and stores no rule; a created rule reads back as sent."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.services import Services
from data.stores.schema import alert_rules
from tests.security.conftest import assert_contract_error, assert_no_server_error
from tests.security.strategies import Pairs, dumps, hostile_text, json_values, raw_numbers

FUZZ = settings(
    max_examples=700,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
numbers = st.one_of(st.integers(-10, 10**6), st.floats(), raw_numbers, st.just(1e308))
# Per field: what a rule editor sends, and what it must cope with.
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "name": st.one_of(st.just("CPU hot"), hostile_text),
    "metric": st.one_of(st.just("cpu.usage"), hostile_text),
    "source": st.one_of(st.just("*"), st.just("web-1"), hostile_text),
    "kind": st.sampled_from(
        ["threshold", "rate", "spike", "nodata", "forecast_band", "THRESHOLD", ""]
    ),
    "severity": st.one_of(st.sampled_from(["info", "warning", "critical"]), hostile_text),
    "cooldown_s": numbers,
    "channels": st.one_of(
        st.lists(st.sampled_from(["in_app", "webhook", "email", "sms"]), max_size=4),
        json_values,
    ),
    "webhook_url": st.one_of(
        st.sampled_from(["https://hooks.example/x", "http://127.0.0.1:1/"]),
        hostile_text.map(lambda t: "https://hooks.example/" + t),
        st.lists(hostile_text.map(lambda t: "http://" + t), max_size=6),
    ),
    "email_to": st.one_of(
        st.just("ops@example.com"),
        hostile_text.map(lambda t: t + "@example.com"),
        st.lists(st.just("a@b.co"), max_size=22),
    ),
    "enabled": st.one_of(st.booleans(), json_values),
    "op": st.one_of(st.sampled_from([">", "<", ">=", "=="]), hostile_text),
    "threshold": numbers,
    "clear_threshold": numbers,
    "for_s": numbers,
    "change_pct": numbers,
    "direction": st.sampled_from(["up", "down", "both", "sideways"]),
    "zscore": numbers,
    "window_s": numbers,
    "source_down": st.one_of(st.booleans(), json_values),
    "days": st.one_of(st.integers(-2, 10), json_values),
}


@st.composite
def rule_bodies(draw: st.DrawFn) -> bytes:
    """A rule body: a plausible rule with some fields hostile, or any JSON at all."""
    if draw(st.integers(0, 9)) == 0:
        return dumps(draw(json_values)).encode()
    pairs: list[tuple[str, Any]] = [
        ("name", "CPU hot"),
        ("metric", "cpu.usage"),
        ("kind", "threshold"),
        ("threshold", 80),
    ]
    for field in draw(st.lists(st.sampled_from(sorted(FIELD_VALUES)), max_size=5)):
        pairs.append((field, draw(FIELD_VALUES[field])))
    if draw(st.booleans()):
        pairs.append((draw(hostile_text), draw(json_values)))
    return dumps(Pairs(draw(st.permutations(pairs)))).encode()


def rules_of(services: Services, tenant: str) -> int:
    with services.engine.connect() as conn:
        query = select(func.count()).where(alert_rules.c.tenant_id == tenant)
        return int(conn.execute(query).scalar_one())


@FUZZ
@given(body=rule_bodies())
def test_creating_rules(analyst, services: Services, tenant: str, body: bytes) -> None:
    before = rules_of(services, tenant)
    resp = analyst.post("/api/alerts", data=body, content_type="application/json")
    assert_no_server_error(resp, body)
    if resp.status_code >= 400:
        assert_contract_error(resp, body)
        assert rules_of(services, tenant) == before, ("a refused rule was stored", body)
        return
    assert resp.status_code == 201
    created = resp.get_json()
    stored = analyst.get(f"/api/alerts/{created['id']}")
    assert stored.status_code == 200 and stored.get_json()["name"] == created["name"]


@FUZZ
@given(body=rule_bodies())
def test_previewing_rules(analyst, body: bytes) -> None:
    resp = analyst.post("/api/alerts/preview", data=body, content_type="application/json")
    assert_no_server_error(resp, body)
    if resp.status_code >= 400:
        assert_contract_error(resp, body)
    else:
        assert resp.status_code == 200 and isinstance(resp.get_json(), dict)
