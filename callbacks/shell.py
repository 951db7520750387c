"""Routing between pages, the navbar toggler and the signed-in user's name."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, State
from flask_login import current_user

from app.services import Services
from components import ids
from components.explore import explore_page
from components.layout import not_found
from components.overview import overview_page

PAGES = {"/": overview_page, "/explore": explore_page}
FROM_QUERY = {"/explore"}  # pages whose layout starts from the URL's query string


def render_page(pathname: str | None, search: str | None = None) -> Any:
    """The layout of the page at `pathname`."""
    path = pathname or "/"
    page = PAGES.get(path)
    if page is None:
        return not_found(path)
    return page(search) if path in FROM_QUERY else page()


def register(app: Dash, services: Services) -> None:
    """Attach the shell's callbacks to `app`."""

    @app.callback(
        Output(ids.PAGE, "children"),
        Output(ids.NAV_USER, "children"),
        Input(ids.URL, "pathname"),
        State(ids.URL, "search"),
    )
    def route(pathname: str | None, search: str | None) -> tuple[Any, str]:
        user = current_user.user
        return render_page(pathname, search), f"{user.username} · {user.role} · {user.tenant_id}"

    app.clientside_callback(
        "function(n, open) { return n ? !open : open; }",
        Output(ids.NAVBAR_COLLAPSE, "is_open"),
        Input(ids.NAVBAR_TOGGLER, "n_clicks"),
        State(ids.NAVBAR_COLLAPSE, "is_open"),
    )
