"""`/embed/<token>` in an iframe of a page on another loopback port (another origin), in
headless Chromium with no Pulse cookie: live where EMBED_ALLOWED_ORIGINS lists that origin,
refused by the browser (a frame-ancestors violation) where it does not; a heatmap drawn as
a heatmap and kept live, and a notifications widget listing the tenant's notifications."""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By

from app.asgi import build_asgi
from app.services import Services
from data.domain.dashboards import Actor
from data.domain.points import Point
from tests.alerts_support import create_rule, firing_incident
from tests.conftest import LiveServer, free_port, serving, wait_until, with_settings

pytestmark = pytest.mark.browser

WIDGET = {
    "id": "cpu",
    "type": "line",
    "title": "CPU",
    "query": {"metric": ["cpu.usage"]},
    "layout": {"x": 0, "y": 0, "w": 12, "h": 6},
}


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Serve without printing a line per request."""


@pytest.fixture
def host_port() -> int:
    return free_port()


@pytest.fixture
def host_page(tmp_path: Path, host_port: int) -> Iterator[tuple[str, Path]]:
    """A plain http.server on another loopback port: the intranet page that embeds."""
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", host_port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{host_port}", tmp_path
    finally:
        server.shutdown()
        thread.join(5)


def embed_url(pulse_url: str, services: Services, tenant: str, make_user) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    """A dashboard with a live CPU widget: an embed's URL, its jti, and the embed key."""
    user = make_user(tenant, "analyst")
    actor = Actor(tenant, user.user_id, user.role)
    board = services.dashboards.create(actor, {"title": "Ops", "widgets": [WIDGET]})
    key = services.accounts.create_api_key(tenant, "intranet", "embed")
    resp = requests.post(
        pulse_url + "/api/embed-tokens",
        json={"resource": {"type": "dashboard", "dashboard_id": board.dashboard_id}},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert resp.status_code == 201, resp.text
    return pulse_url + resp.json()["url"], resp.json()["jti"], key


def framing(host: tuple[str, Path], src: str) -> str:
    """The host page's URL, with an iframe of `src`."""
    url, root = host
    (root / "index.html").write_text(
        '<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head>'
        f'<body><h1>Intranet</h1><iframe id="pulse" src="{src}"'
        ' width="800" height="500"></iframe></body></html>'
    )
    return url + "/index.html"


def publish(services: Services, tenant: str, value: float) -> None:
    """A point on the tenant's live channel, as the worker publishes a stored one."""
    point = Point(uuid.uuid4().hex, "web-1", "cpu.usage", int(time.time() * 1000), value)
    services.live.publish_points(tenant, [point])


def test_an_allowed_origin_frames_a_live_embed_without_any_pulse_cookie_until_revoked(
    dash_duo, services: Services, tenant: str, make_user, host_page, host_port: int
) -> None:  # type: ignore[no-untyped-def]
    allowed = with_settings(services, embed_allowed_origins=f"http://127.0.0.1:{host_port}")
    options = {"ws": "websockets-sansio", "log_level": "warning"}
    with serving(build_asgi(allowed), **options) as (pulse_url, _):
        driver = dash_duo.driver
        url, jti, key = embed_url(pulse_url, services, tenant, make_user)
        driver.get(framing(host_page, url))
        driver.switch_to.frame(driver.find_element(By.ID, "pulse"))

        def state() -> str:
            return str(driver.find_element(By.TAG_NAME, "body").get_attribute("data-state"))

        wait_until(lambda: state() == "live", 15)

        def live_point_drawn() -> bool:
            publish(services, tenant, 42.0)  # until the socket's subscription takes it
            shown = driver.find_element(By.TAG_NAME, "body").get_attribute("data-live-points")
            return int(shown or 0) >= 1

        wait_until(live_point_drawn, 15)
        assert driver.find_elements(By.CSS_SELECTOR, "#embed-widget-cpu .main-svg")
        driver.save_screenshot("/tmp/pulse-shots/embed-live.png")
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        # revoked: the socket is closed within seconds and the frame says so
        revoke = requests.delete(
            f"{pulse_url}/api/embed-tokens/{jti}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert revoke.status_code == 204
        wait_until(lambda: state() == "revoked", 5)
        assert "revoked" in driver.find_element(By.ID, "embed-message").text
        driver.switch_to.default_content()
        assert driver.get_cookies() == []  # nothing of Pulse's, nor anything at all


def test_an_origin_not_allowed_gets_the_frame_refused(
    dash_duo, live_server: LiveServer, tenant: str, make_user, host_page
) -> None:  # type: ignore[no-untyped-def]
    """The session's server allows https://intranet.example only."""
    src, _, _ = embed_url(live_server.url, live_server.services, tenant, make_user)
    driver = dash_duo.driver
    driver.get(framing(host_page, src))

    def violation_logged() -> bool:
        return any("frame-ancestors" in e["message"] for e in driver.get_log("browser"))

    wait_until(violation_logged, 15)
    driver.switch_to.frame(driver.find_element(By.ID, "pulse"))
    assert driver.find_elements(By.ID, "embed-root") == []


HEAT = {
    "id": "heat",
    "type": "heatmap",
    "title": "CPU heat",
    "query": {"metric": ["cpu.usage"], "step": "1m"},
    "layout": {"x": 0, "y": 0, "w": 8, "h": 6},
}
NOTES = {
    "id": "notes",
    "type": "notifications",
    "title": "Alerts",
    "query": {"metric": []},
    "layout": {"x": 8, "y": 0, "w": 4, "h": 6},
}


# the other types, each on the same series, a row of three below
OTHERS = [
    {
        "id": kind,
        "type": kind,
        "title": kind,
        "query": {"metric": ["cpu.usage"]},
        "layout": {"x": (i % 3) * 4, "y": 6 + (i // 3) * 4, "w": 4, "h": 4},
    }
    for i, kind in enumerate(["kpi", "line", "area", "bar", "pie", "table"])
]
# what each chart widget's first trace is, as the dashboard page draws it
TRACES = {
    "line": {"type": "scatter", "mode": "lines"},
    "area": {"type": "scatter", "mode": "lines", "fill": "tozeroy"},
    "bar": {"type": "bar"},
    "pie": {"type": "pie", "hole": 0.4},
}


def seed_heat(services: Services, tenant: str) -> None:
    """Five minutes of cpu.usage on two hosts, stored and live (two heatmap rows)."""
    now = int(time.time() * 1000)
    points = [
        Point(uuid.uuid4().hex, host, "cpu.usage", now - minutes * 60_000, 10.0 * minutes + i)
        for minutes in range(1, 6)
        for i, host in enumerate(["web-1", "web-2"])
    ]
    services.history.write_points([(tenant, p) for p in points])
    services.live.publish_points(tenant, points)


def dashboard_embed(pulse_url: str, key: str, dashboard_id: str) -> str:
    """The URL of a new embed of the whole dashboard, minted with a key of scope embed."""
    resp = requests.post(
        pulse_url + "/api/embed-tokens",
        json={"resource": {"type": "dashboard", "dashboard_id": dashboard_id}},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert resp.status_code == 201, resp.text
    return pulse_url + str(resp.json()["url"])


def drawn_as_on_the_dashboard_page(driver) -> None:  # type: ignore[no-untyped-def]
    """Each chart widget's trace type, the pie's sums and the table's rows."""
    for kind, expected in TRACES.items():
        first = driver.execute_script(
            f"return document.querySelector('#embed-widget-{kind} .embed-chart').data[0];"
        )
        assert {k: first.get(k) for k in expected} == expected, kind
    pie = driver.execute_script(
        "return document.querySelector('#embed-widget-pie .embed-chart').data[0];"
    )
    assert sorted(pie["values"]) == [150.0, 155.0]  # each series' sum over the range
    rows = driver.find_elements(By.CSS_SELECTOR, "#embed-widget-table tr")
    assert [r.text.split()[:3] for r in rows] == [
        ["cpu.usage", "·", "web-1"],
        ["cpu.usage", "·", "web-2"],
    ]


def test_an_embedded_dashboard_draws_every_widget_type_a_live_heatmap_and_notifications(
    dash_duo, services: Services, tenant: str, make_user, host_page, host_port: int
) -> None:  # type: ignore[no-untyped-def]
    user = make_user(tenant, "analyst")
    seed_heat(services, tenant)
    rule = create_rule(services, tenant)
    firing_incident(services, rule, "web-1", 93.5)
    board = services.dashboards.create(
        Actor(tenant, user.user_id, user.role), {"title": "Ops", "widgets": [HEAT, NOTES, *OTHERS]}
    )
    allowed = with_settings(services, embed_allowed_origins=f"http://127.0.0.1:{host_port}")
    options = {"ws": "websockets-sansio", "log_level": "warning"}
    with serving(build_asgi(allowed), **options) as (pulse_url, _):
        driver = dash_duo.driver
        key = services.accounts.create_api_key(tenant, "intranet", "embed")
        driver.get(framing(host_page, dashboard_embed(pulse_url, key, board.dashboard_id)))
        driver.switch_to.frame(driver.find_element(By.ID, "pulse"))
        body = driver.find_element(By.TAG_NAME, "body")
        wait_until(lambda: body.get_attribute("data-state") == "live", 15)
        heat = "document.querySelector('#embed-widget-heat .embed-chart')"
        trace = driver.execute_script(f"const d = {heat}.data; return d && d[0];")
        assert trace["type"] == "heatmap"
        assert len(trace["y"]) == 2 and len(trace["z"]) == 2
        assert driver.find_elements(By.CSS_SELECTOR, "#embed-widget-heat .heatmaplayer")
        notes = driver.find_elements(By.CSS_SELECTOR, "#embed-widget-notes .embed-notes li")
        assert [n.text for n in notes] == [f"critical {rule.name}: cpu.usage 93.5 > 80 on web-1"]
        drawn_as_on_the_dashboard_page(driver)

        def live_point_drawn() -> bool:
            publish(services, tenant, 99.0)  # until the socket's subscription takes it
            return int(body.get_attribute("data-live-points") or 0) >= 1

        wait_until(live_point_drawn, 15)
        z = driver.execute_script(f"return {heat}.data[0].z;")
        assert 99.0 in [v for row in z for v in row]  # the live point coloured its bucket
        assert driver.find_element(By.CSS_SELECTOR, "#embed-widget-kpi .embed-kpi").text == "99"
        driver.save_screenshot("/tmp/pulse-shots/embed-heatmap-notes.png")
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
        driver.switch_to.default_content()
        assert driver.get_cookies() == []
