"""A signed-in user's theme, time zone and default range, written onto the `<html>` of
every page Dash serves, so the first paint is already in their colours (Bootstrap 5.3's
`data-bs-theme`) and assets/theme.js finds their zone and range without a request.

"system" cannot be known on the server: the page starts light, a CSS media query paints
the background dark at once where the system is dark, and theme.js settles
`data-bs-theme` before Dash renders anything.
"""

from __future__ import annotations

from html import escape

from flask import Flask, Response, request
from flask_login import current_user

from app.services import Services
from data.stores.profiles import Profiles

HTML_TAG = "<html>"
# Dash's own routes, the API and the embed (light unless it asks) are not pages to theme.
NOT_PAGES = ("/api/", "/_dash-", "/assets/", "/embed/", "/login", "/healthz", "/readyz")


def init_app(server: Flask, svc: Services) -> None:
    """Theme every page the signed-in user loads."""
    profiles = Profiles(svc.engine)

    @server.after_request
    def _theme_page(resp: Response) -> Response:
        if not _is_page(resp) or not current_user.is_authenticated:
            return resp
        preferences = profiles.resolved(current_user.user)
        resp.set_data(themed_html(resp.get_data(as_text=True), preferences))
        return resp


def _is_page(resp: Response) -> bool:
    return (
        request.method == "GET"
        and resp.status_code == 200
        and resp.mimetype == "text/html"
        and not resp.direct_passthrough
        and not request.path.startswith(NOT_PAGES)
    )


def themed_html(page: str, preferences: dict[str, str]) -> str:
    """The page with the preferences on its `<html>` tag."""
    theme = preferences["theme"]
    attributes = {
        "data-bs-theme": "dark" if theme == "dark" else "light",
        "data-pulse-theme": theme,
        "data-pulse-tz": preferences["timezone"],
        "data-pulse-range": preferences["default_range"],
    }
    written = " ".join(f'{name}="{escape(value)}"' for name, value in attributes.items())
    return page.replace(HTML_TAG, f"<html {written}>", 1)
