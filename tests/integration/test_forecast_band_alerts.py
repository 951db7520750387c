"""forecast_band rules against real PostgreSQL and Redis: the worker's band job (off the
write path) fires one incident per excursion and resolves it, holds for for_s, respects
silences, stays quiet with a note on a short history, shares one band per series and step;
the API checks the kind's parameters and the preview replays the last week.

The series are step averages around 100 with a daily wave and noise (σ 1), three days of
them before the judged steps (the engine tries a daily season once two days precede its
backtest), with large planted excursions, so that what is outside is not in doubt."""

from __future__ import annotations

import dataclasses
import math
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from app.services import Services
from app.worker.alert_evaluator import AlertEngine
from app.worker.band_evaluator import SETTLE_MS, BandEvaluator
from data.domain.band_rule import BAND_STEP_MS, MODEL_TTL_MS
from data.domain.points import Point
from data.stores.accounts import User
from data.stores.forecast_bands import BandCache, ModelCache
from tests.alerts_support import rules_of
from tests.conftest import signed_in

STEP = BAND_STEP_MS
DAY_STEPS = 144
METRIC, SOURCE = "orders.rate", "shop-1"
HELD = 1800  # four steps in a row outside: chance alone does that about once a year


def band_rule(**changes: Any) -> dict[str, Any]:
    doc = {"name": "Orders odd", "metric": METRIC, "kind": "forecast_band", "for_s": HELD}
    doc.update({"cooldown_s": 0, **changes})
    return doc


def write_steps(
    services: Services, tenant: str, start: int, values: list[float], source: str = SOURCE
) -> None:
    """One point per step (so each step's average is that value), in history and live."""
    pts = [
        Point(uuid.uuid4().hex, source, METRIC, start + i * STEP + 60_000, v)
        for i, v in enumerate(values)
    ]
    services.history.write_points([(tenant, p) for p in pts])
    services.live.publish_points(tenant, pts[-1:])


def noise(steps: int, seed: int = 3) -> list[float]:
    """Step averages around 100 with a daily wave of ±20 (phase 0 at the first step) and
    noise of σ 1: the engine's backtest finds the day's season in three days of them."""
    rng = random.Random(seed)
    return [
        100 + 20 * math.sin(2 * math.pi * i / DAY_STEPS) + rng.gauss(0, 1) for i in range(steps)
    ]


def this_step() -> int:
    now = int(time.time() * 1000)
    return now - now % STEP


class Worker:
    """The band job at a clock of our own (moved a step at a time)."""

    def __init__(self, services: Services, now_ms: int) -> None:
        self.now = now_ms
        timed = dataclasses.replace(services, clock=lambda: self.now / 1000)
        self.bands = BandEvaluator(AlertEngine(timed))

    def at_step(self, step_start: int) -> int:
        """Run the job just after the step at `step_start` has settled; its transitions."""
        self.now = step_start + STEP + SETTLE_MS + 1000
        return self.bands.check().transitions


def incidents(services: Services, tenant: str) -> list[Any]:
    with services.engine.connect() as conn:
        sql = "SELECT state, value, message FROM incidents WHERE tenant_id = :t ORDER BY started_at"
        return list(conn.execute(text(sql), {"t": tenant}))


def notifications(services: Services, tenant: str, state: str) -> int:
    with services.engine.connect() as conn:
        sql = "SELECT count(*) FROM notifications WHERE tenant_id = :t AND state = :s"
        return int(conn.execute(text(sql), {"t": tenant, "s": state}).scalar_one())


@pytest.fixture
def analyst(web: Any, tenant: str, make_user: Callable[..., User]) -> Any:
    make_user(tenant, "viewer")
    return signed_in(web, make_user(tenant, "analyst"))


def test_one_incident_per_excursion_resolved_once_back_inside(
    services: Services, tenant: str, analyst: Any
) -> None:
    rule = analyst.post("/api/alerts", json=band_rule()).json
    first = this_step() - 2 * DAY_STEPS * STEP  # judged from here, with 3 days before it
    values = noise(3 * DAY_STEPS + 24)
    for i in (5, 6, 7, 8, 9, 10):
        values[3 * DAY_STEPS + i] += 80
    write_steps(services, tenant, first - 3 * DAY_STEPS * STEP, values)
    batch = [Point(uuid.uuid4().hex, SOURCE, METRIC, first, 500.0)]
    assert AlertEngine(services).evaluate_batch({tenant: batch}).series == 0  # not on ingest
    worker = Worker(services, first)
    fired = [worker.at_step(first + i * STEP) for i in range(24)]
    assert fired == [0] * 8 + [1] + [0] * 2 + [1] + [0] * 12  # fires at the 4th step out
    (incident,) = incidents(services, tenant)
    assert incident.state == "resolved" and incident.value > 170
    assert "outside its 95 % band" in incident.message and SOURCE in incident.message
    assert notifications(services, tenant, "firing") == 2  # the analyst and the viewer
    assert notifications(services, tenant, "resolved") == 2
    assert worker.at_step(first + 23 * STEP) == 0  # judged already: nothing twice
    state = services.redis.hget(rules_of(services).state_key(rule["id"]), SOURCE)
    assert orjson.loads(state)["l"] == first + 23 * STEP


def test_a_short_excursion_does_not_outlast_for_s(
    services: Services, tenant: str, analyst: Any
) -> None:
    analyst.post("/api/alerts", json=band_rule(for_s=3600))
    first = this_step() - 2 * DAY_STEPS * STEP
    values = noise(3 * DAY_STEPS + 12, seed=5)
    for i in (2, 3, 4):
        values[3 * DAY_STEPS + i] += 80
    write_steps(services, tenant, first - 3 * DAY_STEPS * STEP, values)
    worker = Worker(services, first)
    assert sum(worker.at_step(first + i * STEP) for i in range(12)) == 0
    assert incidents(services, tenant) == []


def test_a_silenced_rule_opens_nothing_until_the_silence_ends(
    services: Services, tenant: str, analyst: Any
) -> None:
    rule = analyst.post("/api/alerts", json=band_rule()).json
    silenced = analyst.post(f"/api/alerts/{rule['id']}/silence", json={"for_s": 3600})
    assert silenced.status_code == 200
    first = this_step() - 2 * STEP * 12
    values = noise(3 * DAY_STEPS + 12, seed=11)
    for i in range(2, 12):
        values[3 * DAY_STEPS + i] += 80
    write_steps(services, tenant, first - 3 * DAY_STEPS * STEP, values)
    worker = Worker(services, first)
    assert sum(worker.at_step(first + i * STEP) for i in range(8)) == 0
    assert incidents(services, tenant) == []
    analyst.post(f"/api/alerts/{rule['id']}/silence", json={"until": None})
    assert worker.at_step(first + 8 * STEP) == 1  # still outside, and no longer silenced


def test_too_little_history_stays_quiet_and_says_how_much_more(
    services: Services, tenant: str, analyst: Any
) -> None:
    rule = analyst.post("/api/alerts", json=band_rule()).json
    first = this_step() - 6 * STEP
    write_steps(services, tenant, first - 6 * STEP, noise(6) + [500.0] * 6)
    worker = Worker(services, first)
    assert sum(worker.at_step(first + i * STEP) for i in range(6)) == 0
    assert incidents(services, tenant) == []
    state = orjson.loads(services.redis.hget(rules_of(services).state_key(rule["id"]), SOURCE))
    assert state["n"].startswith("needs ") and state["n"].endswith("of history")


def test_a_failing_model_leaves_its_step_unjudged_and_the_job_running(
    services: Services, tenant: str, analyst: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rule = analyst.post("/api/alerts", json=band_rule()).json
    first = this_step() - 2 * STEP
    write_steps(services, tenant, first - 3 * DAY_STEPS * STEP, noise(3 * DAY_STEPS + 1))

    def broken(*args: Any) -> None:
        raise FloatingPointError("the model diverged")

    monkeypatch.setattr("app.worker.band_evaluator.bands_from", broken)
    assert Worker(services, first).at_step(first) == 0
    state = orjson.loads(services.redis.hget(rules_of(services).state_key(rule["id"]), SOURCE))
    assert state["l"] == first and state["n"] == "the forecast failed for this step"


def test_rules_on_one_series_share_one_band_per_step(
    services: Services, tenant: str, analyst: Any
) -> None:
    analyst.post("/api/alerts", json=band_rule(name="one"))
    analyst.post("/api/alerts", json=band_rule(name="two", clear_threshold=0.5))
    first = this_step() - 2 * STEP
    write_steps(services, tenant, first - 3 * DAY_STEPS * STEP, noise(3 * DAY_STEPS + 1))
    worker = Worker(services, first)
    worker.at_step(first)
    cache = BandCache(services.redis, services.settings.redis_prefix)
    band = cache.get(tenant, METRIC, SOURCE, first)
    assert band is not None and band.lo < 100 < band.hi  # type: ignore[union-attr]
    assert services.redis.ttl(cache.key(tenant, METRIC, SOURCE)) <= 2 * STEP // 1000
    models = ModelCache(services.redis, services.settings.redis_prefix)
    model = models.get(tenant, METRIC, SOURCE, first)  # chosen by the backtest once a day
    assert model is not None and model.chosen_ms <= first
    assert models.get(tenant, METRIC, SOURCE, first + STEP) == model  # the next step reuses it
    assert models.get(tenant, METRIC, SOURCE, model.chosen_ms + MODEL_TTL_MS) is None


def test_api_creates_and_checks_forecast_band_rules(analyst: Any) -> None:
    made = analyst.post("/api/alerts", json=band_rule(threshold=5))
    assert made.status_code == 201, made.json
    assert made.json["kind"] == "forecast_band" and made.json["for_s"] == HELD
    assert made.json.get("threshold") is None  # not a parameter of this kind
    bad = analyst.post("/api/alerts", json=band_rule(clear_threshold=2))
    assert bad.status_code == 422 and bad.json["error"]["code"] == "invalid_rule"
    assert [d["field"] for d in bad.json["error"]["details"]] == ["clear_threshold"]
    missing = analyst.post("/api/alerts", json={"name": "x", "kind": "forecast_band"})
    assert missing.status_code == 422
    assert {d["field"] for d in missing.json["error"]["details"]} == {"metric"}
    updated = analyst.put(f"/api/alerts/{made.json['id']}", json={"for_s": 600})
    assert updated.status_code == 200 and updated.json["for_s"] == 600
    unheld = {k: v for k, v in band_rule(name="default").items() if k != "for_s"}
    defaulted = analyst.post("/api/alerts", json=unheld)
    assert defaulted.status_code == 201 and defaulted.json["for_s"] == 1800  # not 0: noise


def test_preview_replays_the_last_week_against_bands_of_the_week_before(
    services: Services, tenant: str, analyst: Any
) -> None:
    start = this_step() - 10 * DAY_STEPS * STEP
    values = noise(10 * DAY_STEPS, seed=17)
    for i in range(6):
        values[6 * DAY_STEPS + 40 + i] += 90
    write_steps(services, tenant, start, values)
    resp = analyst.post("/api/alerts/preview", json=band_rule())
    assert resp.status_code == 200, resp.json
    assert resp.json["fired"] == 1 and resp.json["step"] == "10m"
    (series,) = resp.json["series"]
    assert series["source"] == SOURCE and series["note"] is None
    (firing,) = series["firings"]
    assert firing["value"] > 170 and firing["resolved_at"] is not None
    short = analyst.post("/api/alerts/preview", json={**band_rule(), "metric": "other.m"})
    assert short.status_code == 200 and short.json["series"] == []
