"""The web role's application factory: wires settings, services, auth, API and pages
into a Dash app."""

from __future__ import annotations

from pathlib import Path

import dash
from flask import Flask

from app import api, errors, logs
from app.services import Services
from app.settings import Settings
from app.web import auth, embed, health, security
from callbacks import admin_audit, alerts, dashboards, explore, notifications, overview, shell
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
    api.init_app(server)
    health.init_app(server)
    embed.init_app(server)  # /embed/<token>, framed by EMBED_ALLOWED_ORIGINS
    app = dash.Dash(
        "pulse",
        server=server,  # type: ignore[arg-type]
        assets_folder=str(ROOT / "assets"),
        title="Pulse",
        update_title=None,  # type: ignore[arg-type]
        suppress_callback_exceptions=True,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    app.layout = app_shell
    shell.register(app, services)
    overview.register(app, services)
    explore.register(app, services)
    notifications.register(app, services)
    alerts.register(app, services)
    dashboards.register(app, services)
    admin_audit.register(app, services)  # the audit tab of /admin
    security.init_headers(app)
    security.refuse_unknown_callbacks(app)
    return app
