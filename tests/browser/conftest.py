"""Browser helpers: sign in through the real page, ingest over HTTP, read what the page shows.

Pulse is served by the session's `live_server` (uvicorn: pages, /api and /ws on one origin,
and a consumer writing what is ingested); dash_duo only provides the headless Chromium.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import LiveServer, wait_until

SHOTS = Path("/tmp/pulse-shots")


def dash_id(kind: str, index: str) -> str:
    """The DOM id Dash gives a pattern-matching id: its JSON with sorted keys, no spaces."""
    return json.dumps({"index": index, "type": kind}, separators=(",", ":"), sort_keys=True)


def by_id(kind: str, index: str) -> str:
    """A CSS selector for the element of a pattern-matching id."""
    return "[id='" + dash_id(kind, index) + "']"


def point(metric: str, source: str, value: float, ts_ms: int | None = None) -> dict:
    """One point as the ingest API takes it."""
    ts = ts_ms if ts_ms is not None else int(time.time() * 1000)
    return {
        "data_id": f"b-{uuid.uuid4().hex}",
        "source": source,
        "metric_type": metric,
        "timestamp": ts / 1000,
        "value": value,
    }


@pytest.fixture
def ingest(live_server: LiveServer) -> Callable[[str, list[dict]], None]:
    """POST points to the live server's /api/ingest with an ingest key; asserts 202."""

    def send(key: str, points: list[dict]) -> None:
        resp = requests.post(
            live_server.url + "/api/ingest",
            json=points,
            timeout=5,
            headers={"Authorization": f"Bearer {key}"},
        )
        assert resp.status_code == 202, resp.text

    return send


@pytest.fixture
def stored(live_server: LiveServer) -> Callable[[str, int, tuple[str, str], float], None]:
    """Wait until a tenant has `count` points in PostgreSQL and a series' latest value."""

    def wait(tenant: str, count: int, series: tuple[str, str], value: float) -> None:
        services = live_server.services
        wait_until(lambda: services.history.count_points(tenant) == count, 10)
        wait_until(lambda: services.live.latest(tenant).get(series, (0, None))[1] == value, 10)

    return wait


@pytest.fixture
def sign_in(dash_duo, live_server: LiveServer) -> Callable[[str, str], None]:
    """Fill in and submit the sign-in form of the live server."""

    def submit(username: str, password: str) -> None:
        dash_duo.driver.get(live_server.url + "/login")
        dash_duo.wait_for_element("#login-submit", timeout=10)
        dash_duo.find_element("#username").send_keys(username)
        dash_duo.find_element("#password").send_keys(password)
        dash_duo.find_element("#login-submit").click()

    return submit


@pytest.fixture
def screenshot(dash_duo) -> Callable[[str], Path]:
    """Save a screenshot of the current page under /tmp/pulse-shots (outside the repo)."""

    def save(name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        dash_duo.driver.save_screenshot(str(path))
        return path

    return save


@pytest.fixture
def signup_on(live_server: LiveServer) -> Iterator[None]:
    """SIGNUP_ENABLED=1 on the live server for one test (its Services are this session's,
    read at each request), off again afterwards."""
    svc = live_server.services
    before = svc.settings
    svc.settings = before.model_copy(update={"signup_enabled": True})
    yield
    svc.settings = before
