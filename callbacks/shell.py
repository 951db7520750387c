"""Routing between pages, the navbar toggler and the signed-in user's name."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, State
from flask_login import current_user

from app.services import Services
from components import ids
from components.layout import not_found
from components.overview import overview_page

PAGES = {"/": overview_page}


def render_page(pathname: str | None) -> Any:
    """The layout of the page at `pathname`."""
    page = PAGES.get(pathname or "/")
    return page() if page else not_found(pathname or "")


def register(app: Dash, services: Services) -> None:
    """Attach the shell's callbacks to `app`."""

    @app.callback(
        Output(ids.PAGE, "children"), Output(ids.NAV_USER, "children"), Input(ids.URL, "pathname")
    )
    def route(pathname: str | None) -> tuple[Any, str]:
        user = current_user.user
        return render_page(pathname), f"{user.username} · {user.role} · {user.tenant_id}"

    app.clientside_callback(
        "function(n, open) { return n ? !open : open; }",
        Output(ids.NAVBAR_COLLAPSE, "is_open"),
        Input(ids.NAVBAR_TOGGLER, "n_clicks"),
        State(ids.NAVBAR_COLLAPSE, "is_open"),
    )
