"""Routing between pages, the navbar toggler, the signed-in user's name, the unread badge
and the shell's notification socket (assets/notify.js)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from dash import ALL, ClientsideFunction, Dash, Input, Output, State
from flask_login import current_user

from callbacks.settings import PATH as SETTINGS_PATH
from callbacks.settings import settings_content
from components import ids
from components.admin import ADMIN_AREAS, admin_page
from components.alerts import alerts_page
from components.dashboards import dashboard_page, dashboards_page
from components.explore import explore_page
from components.home import home_empty
from components.layout import not_found
from components.notifications import notifications_page, unread_label
from components.overview import overview_page
from data.domain.dashboards import Actor
from data.stores.incidents import Incidents
from data.stores.profiles import Profiles

if TYPE_CHECKING:  # annotations only: callbacks never import a role of app
    from app.services import Services

PAGES = {
    "/": home_empty,  # with no home to show yet; see `route`
    "/overview": overview_page,
    "/explore": explore_page,
    "/alerts": alerts_page,
    "/notifications": notifications_page,
    "/dashboards": dashboards_page,
    "/admin": admin_page,
    **{f"/admin/{area}": partial(admin_page, tab) for area, tab in ADMIN_AREAS.items()},
}
# Pages drawn for the signed-in user from their own records (path → builder).
PERSONAL_PAGES = {SETTINGS_PATH: settings_content}
# Other roles get the not-found page: nothing says these exist. /admin/<area> opens /admin
# on that area's tab (a deep link).
ADMIN_ONLY = {"/admin", *(f"/admin/{area}" for area in ADMIN_AREAS)}
DASHBOARD_PREFIX = "/dashboards/"  # /dashboards/{id}: one dashboard
EXPLORE_PATH = "/explore"
FROM_QUERY = {EXPLORE_PATH}  # pages whose layout starts from the URL's query string


def render_page(
    pathname: str | None,
    search: str | None = None,
    role: str = "viewer",
    default_range: str | None = None,
) -> Any:
    """The layout of the page at `pathname`, as a user of `role` may see it
    (`default_range`: the user's, for /explore)."""
    path = pathname or "/"
    if path.startswith(DASHBOARD_PREFIX) and len(path) > len(DASHBOARD_PREFIX):
        return dashboard_page(path.removeprefix(DASHBOARD_PREFIX))
    page = PAGES.get(path)
    if page is None or (path in ADMIN_ONLY and role != "admin"):
        return not_found(path)
    if path == EXPLORE_PATH:
        return explore_page(search, default_range)
    return page(search) if path in FROM_QUERY else page()


def _page_for(services: Services, user: Any, path: str, search: str | None) -> Any:
    """What the signed-in `user` sees at `path`: `/` is their home (their choice, else the
    tenant's default, generated from its top metrics once it has data, else how to send
    data); pages of their own records; else the page table's, as their role may see it."""
    if path == "/":
        home = services.dashboards.home_id(Actor(user.tenant_id, user.user_id, user.role))
        if home:
            return dashboard_page(home)
    personal = PERSONAL_PAGES.get(path)
    if personal is not None:
        return personal(services, user)
    default_range = (
        Profiles(services.engine).resolved(user)["default_range"] if path == EXPLORE_PATH else None
    )
    return render_page(path, search, user.role, default_range)


def _clientside(app: Dash, name: str, *deps: Any, **options: Any) -> None:
    app.clientside_callback(ClientsideFunction("pulseNotify", name), *deps, **options)


def register(app: Dash, services: Services) -> None:
    """Attach the shell's callbacks to `app`."""
    incidents = Incidents(services.engine, services.clock)

    @app.callback(
        Output(ids.PAGE, "children"),
        Output(ids.NAV_USER, "children"),
        Output(ids.NAV_UNREAD, "children"),
        Input(ids.URL, "pathname"),
        State(ids.URL, "search"),
    )
    def route(pathname: str | None, search: str | None) -> tuple[Any, str, str]:
        user = current_user.user
        unread = incidents.unread(user.tenant_id, user.user_id)
        return (
            _page_for(services, user, pathname or "/", search),
            f"{user.username} · {user.role} · {user.tenant_id}",
            unread_label(unread),
        )

    app.clientside_callback(
        "function(n, open) { return n ? !open : open; }",
        Output(ids.NAVBAR_COLLAPSE, "is_open"),
        Input(ids.NAVBAR_TOGGLER, "n_clicks"),
        State(ids.NAVBAR_COLLAPSE, "is_open"),
    )
    _clientside(app, "connect", Output(ids.SHELL_WS, "url"), Input(ids.SHELL_CONNECTION, "data"))
    _clientside(
        app,
        "onSocketState",
        Output(ids.SHELL_WS, "send"),
        Input(ids.SHELL_WS, "state"),
        State(ids.SHELL_CONNECTION, "data"),
        prevent_initial_call=True,
    )
    _clientside(
        app,
        "onMessage",
        Output(ids.TOAST, "is_open"),
        Output(ids.TOAST, "header"),
        Output(ids.TOAST, "icon"),
        Output(ids.TOAST_BODY, "children"),
        Output(ids.TOAST_LINK, "href"),
        Output(ids.NAV_UNREAD, "children", allow_duplicate=True),
        Output({"type": ids.NOTIFY_LAST, "index": ALL}, "data"),
        Input(ids.SHELL_WS, "message"),
        prevent_initial_call=True,
    )
