"""Every page, for every role, at phone and desktop widths: no console error, no failed
request, no sideways scroll (CONTRACT.md §5).

The table below lists the pages; `test_every_served_page_has_a_row` fails when the app
serves a page the table does not visit. Each role gets one browser and one sign-in, and
visits its rows at both widths; the problems of every visit are reported together.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from app.services import Services
from callbacks.shell import DASHBOARD_PREFIX, PAGES, PERSONAL_PAGES
from components import ids
from data.domain.account_forms import InviteForm
from data.domain.dashboards import Actor
from data.stores.accounts import User
from data.stores.email_verifications import EmailVerifications
from data.stores.incidents import Incidents
from data.stores.invites import Invites
from data.stores.password_resets import PasswordResets
from tests.alerts_support import HOT_NOW, METRIC, SOURCE, create_rule
from tests.browser.conftest import point
from tests.browser.pagecheck import PageWatch
from tests.conftest import PASSWORD, LiveServer, wait_until

pytestmark = pytest.mark.browser

ANONYMOUS = ("anonymous",)
EMBED = ("embed",)  # no session at all: the token in the URL is the only credential
SIGNED_IN = ("viewer", "analyst", "admin")
WIDTHS = (1280, 375)
SHOTS = Path("/tmp/shots")
UNKNOWN_PATH = "/no-such-page"
DASHBOARD_PAGE = DASHBOARD_PREFIX + "{dashboard}"  # a shared dashboard of every widget type


@dataclass(frozen=True)
class Row:
    """A page to visit, who visits it, and what shows once its content has arrived."""

    path: str
    roles: tuple[str, ...]
    ready: str  # CSS selector of the page's content
    text: str = ""  # ...which contains this

    @property
    def name(self) -> str:
        """The screenshot's file name: the path and query with dashes."""
        parts = (
            self.path.split("{")[0].strip("/").replace("?", "-").replace("=", "-").replace("/", "-")
        )
        return parts or "home"


ROWS = (
    Row("/login", ANONYMOUS, "#login-submit", "Sign in"),
    Row("/signup", ANONYMOUS, "#signup-form-submit", "Create organisation"),
    Row("/forgot", ANONYMOUS, "#forgot-form-submit", "Send link"),
    Row("/invite/{invite}", ANONYMOUS, "#invite-form-submit", "Join"),
    Row("/reset/{reset}", ANONYMOUS, "#reset-form-submit", "Set password"),
    Row("/verify/{verify}", ANONYMOUS, "#verify-done", "is confirmed"),
    Row("/admin/invitations", ("admin",), f"#{ids.INVITES_SMTP}", "no SMTP server"),
    Row("/admin/invitations", ("viewer", "analyst"), f"#{ids.PAGE} h1", "Page not found"),
    Row("/", SIGNED_IN, ".pulse-dash-kpi", METRIC),  # the home generated from its metrics
    Row("/overview", SIGNED_IN, f"#{ids.OVERVIEW_BODY} .pulse-kpi", METRIC),
    Row("/explore", SIGNED_IN, f"#{ids.EXPLORE_MESSAGE}", "Pick one or more metrics"),
    Row(f"/explore?metric={METRIC}", SIGNED_IN, f"#{ids.EXPLORE_GRAPH} .js-plotly-plot"),
    Row(  # the forecast and the anomaly band drawn over it
        f"/explore?metric={METRIC}&forecast=1&band=1",
        SIGNED_IN,
        f"#{ids.EXPLORE_GRAPH} .js-plotly-plot",
    ),
    Row("/alerts", SIGNED_IN, f"#{ids.ALERTS_INCIDENTS}", "CPU hot"),
    Row("/notifications", SIGNED_IN, f"#{ids.NOTIFS_LIST}", "CPU hot"),
    Row("/dashboards", SIGNED_IN, f"#{ids.DASHES_LIST}", "Ops board"),
    Row(DASHBOARD_PAGE, SIGNED_IN, ".pulse-dash-line .js-plotly-plot"),
    Row("/settings", SIGNED_IN, f"#{ids.SET_PREFS_SAVE}", "Save preferences"),
    Row(UNKNOWN_PATH, SIGNED_IN, f"#{ids.PAGE} h1", "Page not found"),
    Row("/admin", ("admin",), f"#{ids.ADMIN_USERS_LIST} table", "(you)"),
    Row("/admin", ("viewer", "analyst"), f"#{ids.PAGE} h1", "Page not found"),  # not for them
    Row("/admin/audit", ("admin",), f"#{ids.AUDIT_LIST}", "auth.sign_in"),  # its own sign-in
    Row("/admin/audit", ("viewer", "analyst"), f"#{ids.PAGE} h1", "Page not found"),
    Row("/embed/{embed}", EMBED, "#embed-root .js-plotly-plot"),
)

# Flask routes that are not pages: actions, machine endpoints and Dash's own plumbing.
NOT_PAGES = (
    "/logout",
    "/healthz",
    "/readyz",
    "/metrics",
    "/_reload-hash",
    "/_favicon.ico",
    "/embed/<token>/data",  # the embed page's data request
    "/embed/<token>/notifications",  # the embed's notifications widget, polled
    "/embed/_/<name>",  # its script, style and plotly.js
    "/embed/",  # no token: a JSON 404, as any other path under /embed/
    "/embed/<path:rest>",
)
NOT_PAGE_PREFIXES = ("/api/", "/_dash-", "/assets/", "/static/")
DASH_ROUTES = ("/", "/<path:path>")  # Dash's catch-all: the pages of callbacks/shell.PAGES

OVERFLOW = """
const width = window.innerWidth;
const wide = Array.from(document.body.querySelectorAll('*')).filter((el) => {
  const box = el.getBoundingClientRect();
  return box.width > 0 && box.height > 0 && box.right > width + 1;
}).map((el) => el.tagName.toLowerCase() + '#' + el.id + '.' + el.className).slice(0, 3);
return document.documentElement.scrollWidth > width ? wide.concat(['(page scrolls)']) : [];
"""


def served_pages(web) -> set[str]:  # type: ignore[no-untyped-def]
    """Paths of every page the app serves: its HTML routes and the Dash pages."""
    rules = {
        rule.rule
        for rule in web.url_map.iter_rules()
        if "GET" in (rule.methods or ())
        and rule.rule not in NOT_PAGES
        and not rule.rule.startswith(NOT_PAGE_PREFIXES)
    }
    return (rules - set(DASH_ROUTES)) | set(PAGES) | set(PERSONAL_PAGES) | {DASHBOARD_PAGE}


def test_every_served_page_has_a_row(web) -> None:  # type: ignore[no-untyped-def]
    """A page added to the app without a row in ROWS is noticed here."""
    visited = {urlsplit(row.path).path for row in ROWS} - {UNKNOWN_PATH}
    tokens = ("{embed}", "{invite}", "{reset}", "{verify}")  # each page's own token
    visited = {_with_token_rule(path, tokens) for path in visited}
    assert visited == served_pages(web)
    assert UNKNOWN_PATH not in PAGES


def _with_token_rule(path: str, tokens: tuple[str, ...]) -> str:
    for token in tokens:
        path = path.replace(token, "<token>")
    return path


@pytest.fixture
def tenant_with_rule(live_server: LiveServer, tenant, ingest_key, ingest, stored) -> str:
    """A tenant with an hour of cpu.usage and a rule on it that has not fired yet."""
    now = int(time.time() * 1000)
    history = [
        point(METRIC, SOURCE, 50.0 + i, now - 65 * 60_000 + i * 5 * 60_000) for i in range(13)
    ]
    ingest(ingest_key, history)
    stored(tenant, len(history), (METRIC, SOURCE), 62.0)
    create_rule(live_server.services, tenant, **HOT_NOW)
    return tenant


def every_widget_dashboard(live_server: LiveServer, owner: User) -> str:
    """A dashboard shared by `owner` with one widget of each type on cpu.usage."""
    kinds = ("line", "kpi", "area", "bar", "pie", "heatmap", "table", "notifications")
    widgets = [
        {
            "id": kind,
            "type": kind,
            "title": kind,
            "query": {"metric": [] if kind == "notifications" else [METRIC], "source": []},
            "layout": {"x": (i % 2) * 6, "y": (i // 2) * 4, "w": 6, "h": 4},
        }
        for i, kind in enumerate(kinds)
    ]
    doc = {"title": "Ops board", "shared": True, "widgets": widgets}
    actor = Actor(owner.tenant_id, owner.user_id, owner.role)
    return live_server.services.dashboards.create(actor, doc).dashboard_id


def fire_rule(live_server: LiveServer, tenant: str, key: str, ingest, user: User) -> None:  # type: ignore[no-untyped-def]
    """Breach the tenant's rule and wait for the user's notification of it."""
    ingest(key, [point(METRIC, SOURCE, 95.5)])
    incidents = Incidents(live_server.services.engine)
    wait_until(lambda: incidents.unread(tenant, user.user_id) == 1, 10)


def unverified(services: Services, user: User) -> str:
    """Make `user` unverified as a sign-up with SMTP would: the token of their link."""
    with services.engine.begin() as conn:
        return EmailVerifications(services.engine, services.clock).unverify(
            conn, user.user_id, user.email
        )


class FreshVerifyLink(str):
    """A verification token that is a new one each time a path is filled in with it:
    opening the link spends it, and each width visits the page afresh."""

    def __new__(cls, services: Services, user: User) -> FreshVerifyLink:
        made = super().__new__(cls, "fresh")
        made.services, made.user = services, user  # type: ignore[attr-defined]
        return made

    def __format__(self, spec: str) -> str:
        return unverified(self.services, self.user)  # type: ignore[attr-defined]


def set_width(driver, width: int) -> None:  # type: ignore[no-untyped-def]
    """Lay pages out at `width` CSS pixels; phones as a mobile viewport."""
    if width >= 1000:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        driver.set_window_size(width, 1000)
    else:
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 812, "deviceScaleFactor": 1, "mobile": True},
        )
    wait_until(lambda: driver.execute_script("return window.innerWidth") == width, 5)


def visit(
    dash_duo, watch: PageWatch, url: str, row: Row, width: int, names: dict[str, str]
) -> list[str]:
    """Open a page at a width and wait until it settles; what went wrong on the way."""
    set_width(dash_duo.driver, width)
    watch.reset()
    dash_duo.driver.get(url + row.path.format(**names))
    problems = []
    try:
        dash_duo.wait_for_element(row.ready, timeout=15)
        if row.text:
            dash_duo.wait_for_contains_text(row.ready, row.text, timeout=15)
        watch.settle()
    except Exception as exc:  # a page that never shows its content is one more problem
        problems.append(f"not ready: {type(exc).__name__}: {exc}".splitlines()[0])
    problems += watch.problems()
    problems += [f"wider than {width} px: {el}" for el in dash_duo.driver.execute_script(OVERFLOW)]
    return problems


def report(found: dict[str, list[str]]) -> str:
    """The problems of every visit, one a line, under the visit's name."""
    return "\n".join(f"{visit}:\n  " + "\n  ".join(lines) for visit, lines in found.items())


def visit_all(
    dash_duo,
    live_server: LiveServer,
    role: str,
    shots: bool = False,
    names: dict[str, str] | None = None,
) -> dict:
    """Visit every row of a role at every width (paths filled in from `names`); the problems
    of each visit that had any."""
    watch = PageWatch(dash_duo.driver)
    found = {}
    try:
        for row in (r for r in ROWS if role in r.roles):
            for width in WIDTHS:
                problems = visit(dash_duo, watch, live_server.url, row, width, names or {})
                if problems:
                    found[f"{row.path} @ {width}px"] = problems
                if shots:
                    SHOTS.mkdir(parents=True, exist_ok=True)
                    dash_duo.driver.save_screenshot(str(SHOTS / f"{row.name}-{width}.png"))
    finally:
        dash_duo.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return found


def test_login_page_is_clean_at_every_width(
    dash_duo, live_server: LiveServer, tenant: str, make_user, signup_on: None
) -> None:
    """The sign-in page and the other public account pages (sign-up on), before anyone has
    signed in (saved under /tmp/shots)."""
    svc = live_server.services
    invites = Invites(svc.engine, svc.settings.invite_ttl_s, svc.clock)
    _, invite = invites.create(tenant, InviteForm(email="page@example.com", role="viewer"), None)
    user = make_user(tenant, "viewer")
    reset = PasswordResets(svc.engine, svc.clock).issue_for(tenant, user.username)
    names = {"invite": invite, "reset": reset, "verify": FreshVerifyLink(svc, user)}
    found = visit_all(dash_duo, live_server, "anonymous", shots=True, names=names)
    assert not found, report(found)


@pytest.mark.parametrize("role", SIGNED_IN)
def test_every_page_is_clean_for_role_at_every_width(
    dash_duo,
    live_server: LiveServer,
    tenant_with_rule,
    ingest_key,
    ingest,
    make_user,
    sign_in,
    role: str,
) -> None:
    """Each signed-in role opens every page at 1280 and 375 px: no console error, no failed
    request, nothing wider than the screen (admin's visits are saved under /tmp/shots)."""
    user = make_user(tenant_with_rule, role)
    fire_rule(live_server, tenant_with_rule, ingest_key, ingest, user)
    dashboard = every_widget_dashboard(live_server, make_user(tenant_with_rule, "analyst"))
    sign_in(user.username, PASSWORD)
    dash_duo.wait_for_element(f"#{ids.NAV_USER}", timeout=10)
    names = {"dashboard": dashboard}
    found = visit_all(dash_duo, live_server, role, shots=role == "admin", names=names)
    assert not found, report(found)


def test_the_embed_page_is_clean_at_every_width(
    dash_duo, live_server: LiveServer, tenant_with_rule, make_user
) -> None:
    """An embed of the every-widget dashboard, opened with no Pulse cookie at all (as in a
    third-party iframe) at 1280 and 375 px: no console error, no failed request."""
    services = live_server.services
    dashboard = every_widget_dashboard(live_server, make_user(tenant_with_rule, "analyst"))
    key = services.accounts.create_api_key(tenant_with_rule, "intranet", "embed")
    resp = requests.post(
        live_server.url + "/api/embed-tokens",
        json={"resource": {"type": "dashboard", "dashboard_id": dashboard}},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert resp.status_code == 201, resp.text
    token = resp.json()["url"].removeprefix("/embed/")
    assert dash_duo.driver.get_cookies() == []
    found = visit_all(dash_duo, live_server, "embed", shots=True, names={"embed": token})
    assert not found, report(found)
