"""Routing between pages, the navbar toggler, the signed-in user's name, the unread badge
and the shell's notification socket (assets/notify.js)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dash import ALL, ClientsideFunction, Dash, Input, Output, State
from flask_login import current_user

from components import ids
from components.admin_audit import audit_tab
from components.alerts import alerts_page
from components.dashboards import dashboard_page, dashboards_page
from components.explore import explore_page
from components.home import home_empty
from components.layout import not_found
from components.notifications import notifications_page, unread_label
from components.overview import overview_page
from data.domain.dashboards import Actor
from data.stores.accounts import User
from data.stores.incidents import Incidents

if TYPE_CHECKING:  # annotations only: callbacks never import a role of app
    from app.services import Services

PAGES = {
    "/": home_empty,  # with no home to show yet; see `route`
    "/overview": overview_page,
    "/explore": explore_page,
    "/alerts": alerts_page,
    "/notifications": notifications_page,
    "/dashboards": dashboards_page,
}
# Pages for admins only; anyone else gets the not-found page, as for a page that is not
# there. /admin/audit: the audit tab of /admin on its own, a deep link to it.
ADMIN_PAGES = {"/admin/audit": audit_tab}
DASHBOARD_PREFIX = "/dashboards/"  # /dashboards/{id}: one dashboard
FROM_QUERY = {"/explore"}  # pages whose layout starts from the URL's query string


def render_page(pathname: str | None, search: str | None = None) -> Any:
    """The layout of the page at `pathname`."""
    path = pathname or "/"
    if path.startswith(DASHBOARD_PREFIX) and len(path) > len(DASHBOARD_PREFIX):
        return dashboard_page(path.removeprefix(DASHBOARD_PREFIX))
    page = PAGES.get(path)
    if page is None:
        return not_found(path)
    return page(search) if path in FROM_QUERY else page()


def render_for(user: User, pathname: str | None, search: str | None = None) -> Any:
    """The layout of the page at `pathname` as `user` may see it."""
    admin_page = ADMIN_PAGES.get(pathname or "/")
    if admin_page is not None:
        return admin_page() if user.may("admin") else not_found(pathname or "/")
    return render_page(pathname, search)


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
        actor = Actor(user.tenant_id, user.user_id, user.role)
        # `/` is the user's home: their choice, else the tenant's default (generated from
        # its top metrics once it has data), else how to send data
        home = services.dashboards.home_id(actor) if (pathname or "/") == "/" else None
        return (
            dashboard_page(home) if home else render_for(user, pathname, search),
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
