"""The web role's application factory: wires settings, services, auth, API and pages
into a Dash app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dash
from flask import Flask
from flask_login import current_user

from app import api, errors, logs
from app.services import Services
from app.settings import Settings
from app.web import account_pages, auth, embed, health, security, theme
from callbacks import (
    admin,
    admin_audit,
    admin_invites,
    alerts,
    dashboards,
    explore,
    explore_forecast,
    notifications,
    overview,
    shell,
)
from callbacks import settings as settings_page
from components.layout import app_shell

ROOT = Path(__file__).resolve().parent.parent.parent


def create_app(settings: Settings | None = None, services: Services | None = None) -> dash.Dash:
    """A ready Dash app for these settings; services are built from them unless given."""
    settings = settings or (services.settings if services else Settings())
    services = services or Services.build(settings)
    server = Flask("pulse")
    server.secret_key = settings.require_secret()
    server.extensions["pulse.services"] = services
    logs.init_app(server)
    errors.init_app(server)
    security.init_app(server)
    auth.init_app(server, services)
    account_pages.init_app(server)  # /signup, /invite/…, /forgot, /reset/…
    api.init_app(server)
    health.init_app(server)
    embed.init_app(server)  # /embed/<token>, framed by EMBED_ALLOWED_ORIGINS
    theme.init_app(server, services)  # the user's theme and zone on every page's <html>
    app = dash.Dash(
        "pulse",
        server=server,  # type: ignore[arg-type]
        assets_folder=str(ROOT / "assets"),
        title="Pulse",
        update_title=None,  # type: ignore[arg-type]
        suppress_callback_exceptions=True,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    app.layout = _shell_of_the_signed_in_user
    shell.register(app, services)
    overview.register(app, services)
    explore.register(app, services)
    explore_forecast.register(app, services)  # explore's forecast moving with the live edge
    notifications.register(app, services)
    alerts.register(app, services)
    dashboards.register(app, services)
    settings_page.register(app)
    admin.register(app, services)
    admin_invites.register(app, services)  # the invitations tab of /admin
    admin_audit.register(app, services)  # the audit tab of /admin
    security.init_headers(app)
    security.refuse_unknown_callbacks(app)
    return app


def _shell_of_the_signed_in_user() -> Any:
    """The page shell, with the admin's link for an admin (Dash asks with no one signed in
    while it starts: then the plain shell)."""
    user = getattr(current_user, "user", None)
    if user is None:
        return app_shell()
    fresh = auth.services().accounts.get_user(user.user_id) or user  # verified elsewhere
    unverified = None if fresh.email_verified else fresh.email
    return app_shell(admin=user.may("admin"), unverified_email=unverified)
