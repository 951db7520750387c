"""The Sources tab: health list, enable/disable, create and edit in a dialog whose fields
show the store's per-field refusals (the same details the API's 422 carries), and Test now
(clientside: the browser asks POST /api/sources/{id}/test, assets/admin.js)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from dash import ALL, ClientsideFunction, Dash, Input, Output, State, no_update

from callbacks.admin import admin_only, fired
from callbacks.binding import bind, signed_in
from components import ids
from components.admin_parts import message
from components.admin_sources import FIELDS, error_id, field_id, source_table
from data.domain.errors import DomainError, Invalid
from data.outbound import OutboundPolicy
from data.stores.accounts import User
from data.stores.sources import SourceStore

if TYPE_CHECKING:  # annotations only: callbacks never import a role of app
    from app.services import Services

NO_ERRORS = tuple("" for _ in FIELDS)


def sources_view(
    store: SourceStore, user: User, trigger: tuple[Any, Any], *_: Any
) -> tuple[Any, Any]:
    """The list after an enable/disable (or a save elsewhere: the reload store)."""
    admin_only(user)
    clicked, _value = trigger
    said, color = "", "success"
    if isinstance(clicked, dict) and clicked.get("type") == ids.ADMIN_SOURCE_TOGGLE:
        source = store.get(user.tenant_id, str(clicked["index"]))
        if source is None:
            said, color = "There is no such source.", "danger"
        else:
            doc = {"enabled": not source.enabled}
            store.update(user.tenant_id, source.source_id, doc, user.user_id)
            said = f"{source.name} is {'enabled' if doc['enabled'] else 'disabled'}."
    listed = [s.as_dict() for s in store.of_tenant(user.tenant_id)]
    return source_table(listed), message(said, color)


def open_form(store: SourceStore, user: User, trigger: tuple[Any, Any], *_: Any) -> tuple[Any, ...]:
    """Open the dialog empty (New source) or filled from the clicked source (Edit), with no
    problems shown; close it on Cancel."""
    admin_only(user)
    clicked, _value = trigger
    if clicked == ids.ADMIN_SOURCE_CANCEL:
        return (False, no_update, no_update, *(no_update for _ in FIELDS), *NO_ERRORS, "")
    if clicked == ids.ADMIN_SOURCE_NEW:
        blank = ("", "prometheus", "{}", 10, None, True)
        return (True, "New source", None, *blank, *NO_ERRORS, "")
    source = store.get(user.tenant_id, str(clicked["index"])) if isinstance(clicked, dict) else None
    if source is None:
        return (False, no_update, None, *(no_update for _ in FIELDS), *NO_ERRORS, "")
    shown = source.as_dict()
    values = (
        shown["name"],
        shown["kind"],
        json.dumps(shown["config"], indent=2),
        shown["interval_s"],
        shown["timeout_s"],
        shown["enabled"],
    )
    return (True, f"Edit {source.name}", source.source_id, *values, *NO_ERRORS, "")


def _document(values: tuple[Any, ...]) -> dict[str, Any]:
    """The form as the API's body; Invalid when the config is not a JSON object."""
    doc = dict(zip(FIELDS, values, strict=True))
    try:
        doc["config"] = json.loads(doc["config"] or "{}")
    except (TypeError, ValueError):
        raise Invalid.field("config", "must be a JSON object", "source") from None
    return {k: v for k, v in doc.items() if v is not None and v != ""}


def save_source(
    store: SourceStore, user: User, trigger: tuple[Any, Any], *args: Any
) -> tuple[Any, ...]:
    """Create or change the source; on a refusal keep the dialog open with each field's
    problem under it (args: save clicks, reload, editing, then the fields' values)."""
    admin_only(user)
    reload, editing, *values = args[1:]
    try:
        doc = _document(tuple(values))
        if editing:
            if store.update(user.tenant_id, str(editing), doc, user.user_id) is None:
                return (False, *NO_ERRORS, "There is no such source.", no_update)
        else:
            store.create(user.tenant_id, doc, user.user_id)
    except Invalid as exc:
        return (True, *_problems(exc.details))
    except DomainError as exc:  # a taken name, the tenant's quota
        return (True, *NO_ERRORS, exc.message, no_update)
    return (False, *NO_ERRORS, "", (reload or 0) + 1)


def _problems(details: list[dict[str, Any]]) -> tuple[Any, ...]:
    """Each field's problems under it; the rest (a nested field's, the body's) below all."""
    by_field: dict[str, list[str]] = {}
    rest = []
    for detail in details:
        top = str(detail["field"]).split(".", 1)[0]
        if top in FIELDS:
            by_field.setdefault(top, []).append(f"{detail['field']}: {detail['message']}")
        else:
            rest.append(f"{detail['field']}: {detail['message']}")
    return (*("; ".join(by_field.get(f, [])) for f in FIELDS), "; ".join(rest), no_update)


def register(app: Dash, services: Services) -> None:
    """Attach the Sources tab's callbacks to `app`."""
    settings = services.settings
    policy = OutboundPolicy.build(
        settings.outbound_allow,
        (settings.database_url, settings.redis_url),
        settings.sql_sources_enabled,
    )  # as app/outbound.py builds it for /api/sources: the same refusals on the same URLs
    store = SourceStore(services.engine, policy, settings.max_sources_per_tenant)
    at_call = (signed_in, fired)
    app.callback(
        Output(ids.ADMIN_SOURCES_LIST, "children"),
        Output(ids.ADMIN_SOURCES_MESSAGE, "children"),
        Input(ids.ADMIN_SOURCES_RELOAD, "data"),
        Input({"type": ids.ADMIN_SOURCE_TOGGLE, "index": ALL}, "n_clicks"),
    )(bind(sources_view, store, at_call=at_call))
    app.callback(
        Output(ids.ADMIN_SOURCE_FORM, "is_open"),
        Output(ids.ADMIN_SOURCE_FORM_TITLE, "children"),
        Output(ids.ADMIN_SOURCE_EDITING, "data"),
        *(Output(field_id(f), "value") for f in FIELDS),
        *(Output(error_id(f), "children") for f in FIELDS),
        Output(ids.ADMIN_SOURCE_FORM_ERROR, "children"),
        Input(ids.ADMIN_SOURCE_NEW, "n_clicks"),
        Input({"type": ids.ADMIN_SOURCE_EDIT, "index": ALL}, "n_clicks"),
        Input(ids.ADMIN_SOURCE_CANCEL, "n_clicks"),
        prevent_initial_call=True,
    )(bind(open_form, store, at_call=at_call))
    app.callback(
        Output(ids.ADMIN_SOURCE_FORM, "is_open", allow_duplicate=True),
        *(Output(error_id(f), "children", allow_duplicate=True) for f in FIELDS),
        Output(ids.ADMIN_SOURCE_FORM_ERROR, "children", allow_duplicate=True),
        Output(ids.ADMIN_SOURCES_RELOAD, "data"),
        Input(ids.ADMIN_SOURCE_SAVE, "n_clicks"),
        State(ids.ADMIN_SOURCES_RELOAD, "data"),
        State(ids.ADMIN_SOURCE_EDITING, "data"),
        *(State(field_id(f), "value") for f in FIELDS),
        prevent_initial_call=True,
    )(bind(save_source, store, at_call=at_call))
    app.clientside_callback(
        ClientsideFunction("pulseAdmin", "testSource"),
        Output(ids.ADMIN_SOURCE_TEST_RESULT, "children"),
        Input({"type": ids.ADMIN_SOURCE_TEST, "index": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )
