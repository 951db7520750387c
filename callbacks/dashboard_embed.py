"""The "Embed" dialog of /dashboards/{id} (CONTRACT.md §7): an analyst or admin mints a token
for the dashboard or one widget of it, through the same domain and store code as
`POST /api/embed-tokens`, sees the `<iframe>` snippet once, and revokes the dashboard's live
tokens. A viewer's click, forged or not, mints and revokes nothing; another tenant's
dashboard is not found (the store acts as the signed-in user)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dash import ALL, Dash, Input, Output, State, no_update
from dash.exceptions import PreventUpdate
from flask import request

from callbacks.binding import bind, clicked_id, signed_in
from callbacks.dashboard_draw import actor_of, may_embed
from components import ids
from components.dashboard_embed import snippet, token_list
from data.domain.dashboards import DashboardSpec
from data.domain.embeds import (
    EmbedResource,
    EmbedSigner,
    parse_embed_request,
    resource_widgets,
)
from data.domain.errors import Invalid, NotFound, Unreadable
from data.stores.accounts import User
from data.stores.dashboards import DashboardStore
from data.stores.embed_tokens import EmbedTokens

if TYPE_CHECKING:  # annotations only: callbacks never import a role of app
    from app.services import Services


@dataclass(frozen=True)
class EmbedDesk:
    """What the dialog acts through: the dashboards (as the user), the tokens, and the
    tenant's latest series (its source names to lock to)."""

    store: DashboardStore
    tokens: EmbedTokens
    latest: Callable[[str], Any]

    @classmethod
    def of(cls, services: Services) -> EmbedDesk:
        signer = EmbedSigner(services.settings.require_secret())
        tokens = EmbedTokens(
            services.engine, services.redis, services.settings.redis_prefix, signer, services.clock
        )
        return cls(services.dashboards, tokens, services.live.latest)

    def spec(self, user: User, dashboard_id: str) -> DashboardSpec:
        """The dashboard as the user sees it; NotFound for one they may not see."""
        return self.store.get(actor_of(user), dashboard_id).spec

    def live_of(self, user: User, dashboard_id: str) -> list[dict[str, Any]]:
        """The live tokens of this dashboard (its own and its widgets')."""
        rows = self.tokens.live(user.tenant_id)
        return [r for r in rows if r["resource"].get("dashboard_id") == dashboard_id]


def site_root() -> str:
    """The origin the page was served from, to make the embed's URL absolute."""
    return str(request.host_url)


def _embedder(user: User) -> None:
    if not may_embed(user):
        raise PreventUpdate  # viewers have no Embed: a forged click does nothing


# -- open ---------------------------------------------------------------------------------


def open_embed(
    desk: EmbedDesk, user: User, trigger: Any, _board_clicks: Any, _widget_clicks: Any, doc: Any
) -> tuple[Any, ...]:
    """The dialog for the dashboard or the clicked widget: (open, resource, heading, source
    options, sources, errors ×3, result hidden, snippet, live tokens)."""
    _embedder(user)
    if trigger is None or not isinstance(doc, dict):
        raise PreventUpdate
    dashboard_id = str(doc.get("id") or "")
    widget_id = trigger.get("index") if isinstance(trigger, dict) else None
    resource = EmbedResource("widget" if widget_id else "dashboard", dashboard_id, widget_id)
    try:
        resource_widgets(desk.spec(user, dashboard_id), resource)
    except NotFound:
        raise PreventUpdate from None
    heading = f"Embed widget “{widget_id}”" if widget_id else "Embed this dashboard"
    sources = sorted({s for _, s in desk.latest(user.tenant_id)})
    rows = desk.live_of(user, dashboard_id)
    return (True, resource.as_dict(), heading, sources, [], "", "", "", True, "", token_list(rows))


# -- create -------------------------------------------------------------------------------


def _ttl(value: Any) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value  # the domain's check names the field


def _errors(details: list[dict[str, str]]) -> tuple[str, str, str]:
    """(lifetime, sources, other) messages of the domain's per-field problems."""
    by: dict[str, list[str]] = {"ttl": [], "sources": [], "other": []}
    for d in details:
        field = d["field"]
        slot = "ttl" if field == "ttl_s" else "sources" if field.startswith("filters") else "other"
        by[slot].append(d["message"] if slot != "other" else f"{field}: {d['message']}")
    return "; ".join(by["ttl"]), "; ".join(by["sources"]), "; ".join(by["other"])


def create_embed(
    desk: EmbedDesk, user: User, root: str, clicks: Any, ttl: Any, sources: Any, resource: Any
) -> tuple[Any, ...]:
    """Mint the token as `POST /api/embed-tokens` does: (lifetime error, sources error,
    other error, result hidden, snippet, expiry, live tokens)."""
    _embedder(user)
    if not clicks or not isinstance(resource, dict):
        raise PreventUpdate
    body = {"resource": resource, "ttl_s": _ttl(ttl), "filters": {"source": sources or []}}
    try:
        what, ttl_s, locked = parse_embed_request(body)
        spec = desk.spec(user, what.dashboard_id)
        issued = desk.tokens.issue(spec, user.tenant_id, what, locked, ttl_s, (user.user_id, None))
    except Invalid as exc:
        return (*_errors(exc.details), True, "", "", no_update)
    except (NotFound, Unreadable):
        return "", "", "There is no such dashboard or widget.", True, "", "", no_update
    minted = issued.as_dict()
    url = root.rstrip("/") + minted["url"]
    expiry = f"Expires {minted['expires_at']}."
    rows = token_list(desk.live_of(user, what.dashboard_id))
    return "", "", "", False, snippet(url, what.type), expiry, rows


# -- revoke -------------------------------------------------------------------------------


def revoke_embed(desk: EmbedDesk, user: User, trigger: Any, _clicks: Any, resource: Any) -> Any:
    """Revoke the clicked token of this dashboard: the live tokens left."""
    _embedder(user)
    if not isinstance(trigger, dict) or not isinstance(resource, dict):
        raise PreventUpdate
    dashboard_id = str(resource.get("dashboard_id") or "")
    try:
        desk.spec(user, dashboard_id)
    except NotFound:
        raise PreventUpdate from None
    jti = str(trigger.get("index") or "")
    if jti not in {r["jti"] for r in desk.live_of(user, dashboard_id)}:
        raise PreventUpdate  # not a live token of this dashboard
    desk.tokens.revoke(user.tenant_id, jti, user.user_id)
    return token_list(desk.live_of(user, dashboard_id))


def register(app: Dash, services: Services) -> None:
    """Attach the embed dialog's callbacks to `app`."""
    desk = EmbedDesk.of(services)
    clicked = (signed_in, clicked_id)
    app.callback(
        Output(ids.DASH_EMBED_MODAL, "is_open"),
        Output(ids.DASH_EMBED_RESOURCE, "data"),
        Output(ids.DASH_EMBED_HEADING, "children"),
        Output(ids.DASH_EMBED_SOURCES, "options"),
        Output(ids.DASH_EMBED_SOURCES, "value"),
        Output(ids.DASH_EMBED_TTL_ERROR, "children"),
        Output(ids.DASH_EMBED_SOURCES_ERROR, "children"),
        Output(ids.DASH_EMBED_ERROR, "children"),
        Output(ids.DASH_EMBED_RESULT, "hidden"),
        Output(ids.DASH_EMBED_SNIPPET, "value"),
        Output(ids.DASH_EMBED_LIST, "children"),
        Input(ids.DASH_EMBED_OPEN, "n_clicks"),
        Input({"type": ids.DASH_EMBED_WIDGET, "index": ALL}, "n_clicks"),
        State(ids.DASH_DOC, "data"),
        prevent_initial_call=True,
    )(bind(open_embed, desk, at_call=clicked))
    app.callback(
        Output(ids.DASH_EMBED_TTL_ERROR, "children", allow_duplicate=True),
        Output(ids.DASH_EMBED_SOURCES_ERROR, "children", allow_duplicate=True),
        Output(ids.DASH_EMBED_ERROR, "children", allow_duplicate=True),
        Output(ids.DASH_EMBED_RESULT, "hidden", allow_duplicate=True),
        Output(ids.DASH_EMBED_SNIPPET, "value", allow_duplicate=True),
        Output(ids.DASH_EMBED_EXPIRY, "children"),
        Output(ids.DASH_EMBED_LIST, "children", allow_duplicate=True),
        Input(ids.DASH_EMBED_CREATE, "n_clicks"),
        State(ids.DASH_EMBED_TTL, "value"),
        State(ids.DASH_EMBED_SOURCES, "value"),
        State(ids.DASH_EMBED_RESOURCE, "data"),
        prevent_initial_call=True,
    )(bind(create_embed, desk, at_call=(signed_in, site_root)))
    app.callback(
        Output(ids.DASH_EMBED_LIST, "children", allow_duplicate=True),
        Input({"type": ids.DASH_EMBED_REVOKE, "index": ALL}, "n_clicks"),
        State(ids.DASH_EMBED_RESOURCE, "data"),
        prevent_initial_call=True,
    )(bind(revoke_embed, desk, at_call=clicked))
