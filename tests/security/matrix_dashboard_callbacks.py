"""The dashboards pages' rows of the callback matrix (tests/security/matrix_callbacks.py):
tenant A's dashboards — one shared by A's analyst, one personal to them — posted at by
anonymous, A viewer, A analyst and B admin. A viewer saves nothing of anyone's, B neither
sees nor changes A's dashboards, and a personal dashboard is shown to its owner only."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from components.dashboards import PANEL_FIELDS
from data.domain.dashboards import Actor
from tests.security.matrix_world import A_MARK, A_METRIC, World

OK, DOES = "ok", "does"
NEUTRAL_QUERY = {"metric": ["neutral.cpu"], "source": [], "agg": "avg", "step": "auto"}


def owner(world: World) -> Actor:
    """A's analyst, who owns A's dashboards in the matrix."""
    user = world.users["A analyst"]
    return Actor(user.tenant_id, user.user_id, user.role)


def fresh_dashboard(world: World, shared: bool) -> dict[str, Any]:
    """A new dashboard of A's analyst with one line of A's metric, as the page holds it."""
    doc = {
        "title": f"{A_MARK}-dash-{uuid.uuid4().hex[:6]}",
        "shared": shared,
        "widgets": [
            {
                "id": "line",
                "type": "line",
                "title": f"{A_MARK} line",
                "query": {"metric": [A_METRIC], "source": [], "agg": "avg", "step": "auto"},
                "layout": {"x": 0, "y": 0, "w": 6, "h": 4},
            }
        ],
    }
    return world.services.dashboards.create(owner(world), doc).as_dict()


def _count(world: World, title: str) -> int:
    return int(
        world.row(
            "SELECT count(*) AS n FROM dashboards WHERE tenant_id = :t AND title LIKE :title",
            t=world.tenant_a,
            title=title,
        ).n
    )


def _probe(
    world: World,
    name: str,
    values: dict,
    trigger: tuple,
    changed: Callable[[], bool] | None = None,
    check: Callable[[str, dict], None] | None = None,
) -> Any:
    """matrix_callbacks' CbProbe of a callback posted with these values."""
    from tests.security.matrix_callbacks import CbProbe, payload  # it imports this module

    probe = CbProbe(payload(world, name, values, [trigger]))
    if changed is not None:
        probe.changed = changed
    if check is not None:
        probe.check = check
    return probe


def open_dashboard(shared: bool) -> Callable[[World], Any]:
    def build(world: World) -> Any:
        doc = fresh_dashboard(world, shared)
        values = {("dash-id", "data"): doc["id"], ("dash-reloads", "data"): 0}
        shown_to = ("A viewer", "A analyst") if shared else ("A analyst",)
        check = _shown_only_to(doc["title"], shown_to)
        return _probe(world, "callbacks.dashboards.load", values, ("dash-id", "data"), None, check)

    return build


def list_them(world: World) -> Any:
    doc = fresh_dashboard(world, shared=False)
    name, trigger = "callbacks.dashboards.list_dashboards", ("dashes-search", "value")
    check = _shown_only_to(doc["title"], ("A analyst",))
    return _probe(world, name, {trigger: ""}, trigger, None, check)


def create(world: World) -> Any:
    before = _count(world, "Untitled dashboard")
    trigger = ("dashes-new", "n_clicks")
    return _probe(
        world,
        "callbacks.dashboards.create_dashboard",
        {trigger: 1},
        trigger,
        lambda: _count(world, "Untitled dashboard") > before,
    )


def set_home(world: World) -> Any:
    doc = fresh_dashboard(world, shared=True)
    trigger = ("dash-home", "n_clicks")
    values = {trigger: 1, ("dash-doc", "data"): doc}
    home = "SELECT 1 FROM dashboard_homes WHERE dashboard_id = :d"
    return _probe(
        world,
        "callbacks.dashboards.set_home",
        values,
        trigger,
        lambda: bool(world.row(home, d=doc["id"])),
    )


def choose_range(world: World) -> Any:
    doc = fresh_dashboard(world, shared=True)
    trigger = ("dash-range", "value")
    values = {trigger: "now-15m", ("dash-doc", "data"): doc}
    view = "SELECT 1 FROM dashboard_views WHERE dashboard_id = :d"
    name = "callbacks.dashboards.choose_range"
    return _probe(world, name, values, trigger, lambda: bool(world.row(view, d=doc["id"])))


def _views(world: World, dashboard_id: str) -> int:
    sql = "SELECT count(*) AS n FROM dashboard_views WHERE dashboard_id = :d"
    return int(world.row(sql, d=dashboard_id).n)


def choose_sources(world: World) -> Any:
    doc = fresh_dashboard(world, shared=True)
    trigger = ("dash-sources", "value")
    values = {trigger: ["web-1"], ("dash-doc", "data"): doc}
    name = "callbacks.dashboard_view.choose_sources"
    return _probe(world, name, values, trigger, lambda: _views(world, doc["id"]) > 0)


def fold(world: World) -> Any:
    doc = fresh_dashboard(world, shared=True)
    trigger = ({"type": "dash-collapse", "index": "line"}, "n_clicks")
    values = {("dash-collapse", "n_clicks"): [("line", 1)], ("dash-doc", "data"): doc}
    name = "callbacks.dashboard_view.fold"
    return _probe(world, name, values, trigger, lambda: _views(world, doc["id"]) > 0)


def reset_view(world: World) -> Any:
    """A's viewer and analyst each keep a view of A's dashboard: a caller drops only theirs."""
    doc = fresh_dashboard(world, shared=True)
    for who in ("A viewer", "A analyst"):
        user = world.users[who]
        actor = Actor(user.tenant_id, user.user_id, user.role)
        world.services.dashboards.save_view(actor, doc["id"], {"collapsed": ["line"]})
    trigger = ("dash-reset-view", "n_clicks")
    values = {trigger: 1, ("dash-doc", "data"): doc}
    name = "callbacks.dashboard_view.reset_view"
    return _probe(world, name, values, trigger, lambda: _views(world, doc["id"]) < 2)


def make_tenant_home(world: World) -> Any:
    doc = fresh_dashboard(world, shared=True)
    trigger = ("dash-tenant-home", "n_clicks")
    values = {trigger: 1, ("dash-doc", "data"): doc}
    home = "SELECT 1 FROM tenant_homes WHERE dashboard_id = :d"
    name = "callbacks.dashboard_view.make_tenant_home"
    return _probe(world, name, values, trigger, lambda: bool(world.row(home, d=doc["id"])))


def home_route(world: World) -> Any:
    """`/` of a tenant whose admin made a shared dashboard its home: that dashboard for A's
    users, never for B's."""
    doc = fresh_dashboard(world, shared=True)
    store = world.services.dashboards
    for name in ("A admin", "A viewer", "A analyst"):  # no home of their own (set_home's row)
        user = world.users[name]
        store.set_home(Actor(user.tenant_id, user.user_id, user.role), None)
    admin = world.users["A admin"]
    store.set_tenant_home(Actor(admin.tenant_id, admin.user_id, admin.role), doc["id"])
    values = {("url", "pathname"): "/", ("url", "search"): ""}
    check = _shown_only_to(doc["id"], ("A viewer", "A analyst"))
    return _probe(world, "callbacks.shell.route", values, ("url", "pathname"), None, check)


def save(button: str) -> Callable[[World], Any]:
    def build(world: World) -> Any:
        doc = fresh_dashboard(world, shared=True)
        title = f"{A_MARK}-saved-{uuid.uuid4().hex[:6]}"
        values = {
            (button, "n_clicks"): 1,
            ("dash-doc", "data"): doc,
            ("dash-grid", "layout"): None,
            ("dash-grid", "breakpoint"): "lg",
            ("dash-title-input", "value"): title,
            ("dash-shared", "value"): True,
        }
        name = "callbacks.dashboard_edit.save"
        return _probe(world, name, values, (button, "n_clicks"), lambda: _count(world, title) > 0)

    return build


def page_state(name: str, values: Callable[[dict], dict], trigger: tuple) -> Callable:
    # The page sends its document back with each edit: B sending A's would only get back
    # what it sent, so these probes carry a document without A's names.
    def build(world: World) -> Any:
        doc = fresh_dashboard(world, shared=True)
        widget = {**doc["widgets"][0], "title": "w", "query": NEUTRAL_QUERY}
        neutral = {**doc, "title": "page", "owner": None, "widgets": [widget]}
        return _probe(world, name, values(neutral), trigger)

    return build


PANEL = list(
    zip(
        PANEL_FIELDS,
        ["t", "line", ["neutral.cpu"], [], "avg", "auto", True, None, False],
        strict=True,
    )
)
EDIT = page_state(
    "callbacks.dashboard_edit.edit",
    lambda doc: {
        ("dash-add", "n_clicks"): [("kpi", 1)],
        ("dash-doc", "data"): doc,
        ("dash-undo", "data"): [],
        ("dash-grid", "breakpoint"): "lg",
    },
    ({"type": "dash-add", "index": "kpi"}, "n_clicks"),
)
OPEN_PANEL = page_state(
    "callbacks.dashboard_edit.open_panel",
    lambda doc: {("dash-configure", "n_clicks"): [("line", 1)], ("dash-doc", "data"): doc},
    ({"type": "dash-configure", "index": "line"}, "n_clicks"),
)
PREVIEW = page_state(
    "callbacks.dashboard_edit.preview",
    lambda doc: {
        ("dash-field", "value"): PANEL,
        ("dash-doc", "data"): doc,
        ("dash-panel-widget", "data"): "line",
    },
    ({"type": "dash-field", "index": "title"}, "value"),
)


def forecast_widget(world: World) -> Any:
    """A widget's forecast drawn on a page holding a document without A's names (a MATCH
    callback: its ids name the widget)."""
    probe = page_state(
        "callbacks.dashboard_forecast.redraw_widget",
        lambda doc: {("dash-doc", "data"): doc},
        ({"type": "dash-forecast-mode", "index": "line"}, "value"),
    )(world)
    body = json.loads(json.dumps(probe.body).replace('["MATCH"]', '"line"'))
    body["inputs"][0]["value"] = "forecast"
    probe.body = body
    probe.check = _widget_redrawn
    return probe


def _widget_redrawn(caller: str, answer: dict[str, Any]) -> None:
    assert "dash-fig" in json.dumps(answer.get("response", {})), answer  # it ran, for "line"


def _tokens(world: World, dashboard_id: str, revoked: bool = False) -> int:
    """How many of A's embed tokens of this dashboard are (not) revoked."""
    state = "IS NOT NULL" if revoked else "IS NULL"
    found = world.row(
        "SELECT count(*) AS n FROM embed_tokens WHERE tenant_id = :t"
        f" AND resource->>'dashboard_id' = :d AND revoked_at {state}",
        t=world.tenant_a,
        d=dashboard_id,
    )
    return int(found.n)


def _opened_only_for_analysts(caller: str, answer: dict[str, Any]) -> None:
    modal = answer.get("response", {}).get("dash-embed-modal", {})
    assert (modal.get("is_open") is True) == (caller == "A analyst"), f"{caller}: {answer}"


def open_embed(world: World) -> Any:
    doc = fresh_dashboard(world, shared=True)
    trigger = ("dash-embed-open", "n_clicks")
    values = {
        trigger: 1,
        ("dash-embed-widget", "n_clicks"): [("line", None)],
        ("dash-doc", "data"): doc,
    }
    name = "callbacks.dashboard_embed.open_embed"
    return _probe(world, name, values, trigger, None, _opened_only_for_analysts)


def mint_embed(world: World) -> Any:
    doc = fresh_dashboard(world, shared=True)
    trigger = ("dash-embed-create", "n_clicks")
    values = {
        trigger: 1,
        ("dash-embed-ttl", "value"): "3600",
        ("dash-embed-sources", "value"): [],
        ("dash-embed-resource", "data"): {"type": "dashboard", "dashboard_id": doc["id"]},
    }
    name = "callbacks.dashboard_embed.create_embed"
    return _probe(world, name, values, trigger, lambda: _tokens(world, doc["id"]) > 0)


def revoke_embed(world: World) -> Any:
    from callbacks.dashboard_embed import EmbedDesk, create_embed

    doc = fresh_dashboard(world, shared=True)
    resource = {"type": "dashboard", "dashboard_id": doc["id"]}
    desk, analyst = EmbedDesk.of(world.services), world.users["A analyst"]
    create_embed(desk, analyst, "http://pulse.test/", 1, "3600", [], resource)
    jti = desk.live_of(analyst, doc["id"])[0]["jti"]
    trigger = ({"type": "dash-embed-revoke", "index": jti}, "n_clicks")
    values = {
        ("dash-embed-revoke", "n_clicks"): [(jti, 1)],
        ("dash-embed-resource", "data"): resource,
    }
    name = "callbacks.dashboard_embed.revoke_embed"
    return _probe(world, name, values, trigger, lambda: _tokens(world, doc["id"], True) > 0)


# name → [(what it tries, answer per caller: anon, A viewer, A analyst, B admin, probe)]
ROWS: dict[str, list[tuple[str, tuple[Any, ...], Callable[[World], Any]]]] = {
    "callbacks.dashboards.list_dashboards": [("list dashboards", (401, OK, OK, OK), list_them)],
    "callbacks.dashboards.create_dashboard": [
        ("create a dashboard", (401, DOES, DOES, OK), create)
    ],
    "callbacks.dashboards.load": [
        ("open A's shared dashboard", (401, OK, OK, OK), open_dashboard(True)),
        ("open A analyst's personal dashboard", (401, OK, OK, OK), open_dashboard(False)),
    ],
    "callbacks.dashboards.set_home": [
        ("make A's shared dashboard my home", (401, DOES, DOES, OK), set_home)
    ],
    "callbacks.dashboards.choose_range": [
        ("keep my own range of A's shared dashboard", (401, DOES, DOES, OK), choose_range)
    ],
    "callbacks.dashboard_view.choose_sources": [
        ("keep my own source filter of A's shared dashboard", (401, DOES, DOES, OK), choose_sources)
    ],
    "callbacks.dashboard_view.fold": [
        ("fold a widget of A's shared dashboard for me", (401, DOES, DOES, OK), fold)
    ],
    "callbacks.dashboard_view.reset_view": [
        ("reset my view of A's shared dashboard", (401, DOES, DOES, OK), reset_view)
    ],
    # no A admin among the callers: none of them may choose A's home
    "callbacks.dashboard_view.make_tenant_home": [
        ("make A's shared dashboard A's home", (401, OK, OK, OK), make_tenant_home)
    ],
    "callbacks.dashboard_edit.save": [
        ("save A's shared dashboard", (401, OK, DOES, OK), save("dash-save")),
        ("save A's dashboard as a copy", (401, DOES, DOES, OK), save("dash-copy")),
    ],
    "callbacks.dashboard_edit.edit": [("add a widget on the page", (401, OK, OK, OK), EDIT)],
    "callbacks.dashboard_edit.open_panel": [
        ("open a widget's panel", (401, OK, OK, OK), OPEN_PANEL)
    ],
    "callbacks.dashboard_edit.preview": [("preview a widget", (401, OK, OK, OK), PREVIEW)],
    "callbacks.dashboard_forecast.redraw_widget": [
        ("draw a widget's forecast on the page", (401, OK, OK, OK), forecast_widget)
    ],
    "callbacks.dashboard_embed.open_embed": [
        ("open the Embed dialog of A's dashboard", (401, OK, OK, OK), open_embed)
    ],
    "callbacks.dashboard_embed.create_embed": [
        ("mint an embed token of A's dashboard", (401, OK, DOES, OK), mint_embed)
    ],
    "callbacks.dashboard_embed.revoke_embed": [
        ("revoke an embed token of A's dashboard", (401, OK, DOES, OK), revoke_embed)
    ],
}


def _shown_only_to(title: str, callers: tuple[str, ...]) -> Callable[[str, dict], None]:
    def check(caller: str, answer: dict[str, Any]) -> None:
        shown = title in str(answer)
        assert shown == (caller in callers), f"{title} shown to {caller}: {shown}"

    return check


CLIENTSIDE = (
    "clientside pulseDash.toggleEdit",
    "clientside pulseDash.countReload",
    "clientside pulseDash.connect",
    "clientside pulseDash.onSocketState",
    "clientside pulseDash.onMessage",
    "clientside pulseForecast.dashDue",
)
PATTERN_INDICES = {"dash-field": list(PANEL_FIELDS), "dash-collapse": ["line"]}
