"""The edits of the dashboard page, on the document as the page holds it (a dict as the API
shows it): add a widget from the palette, remove one, change one's query, take the grid's
layout, and the undo stack of the changes. Pure: the page saves through the store."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from data.domain.dashboards import GRID_COLUMNS, MAX_WIDGETS, WIDGET_TYPES

UNDO_DEPTH = 20  # the last changes the page can take back
# a new widget's size on the 12-column grid, by type: a number is small, a chart wide
NEW_SIZE = {"kpi": (3, 2), "table": (6, 4), "notifications": (4, 4)}
DEFAULT_SIZE = (6, 4)
PALETTE = {
    "kpi": "KPI",
    "line": "Line",
    "area": "Area",
    "bar": "Bar",
    "pie": "Pie",
    "heatmap": "Heatmap",
    "table": "Table",
    "notifications": "Notifications",
}
GRID_KEYS = ("x", "y", "w", "h")
# A grid item's key is its child's component id: prefixed, so that a widget id ("status")
# never collides with an id of the page.
GRID_PREFIX = "w-"


def new_widget(doc: dict[str, Any], kind: str, metric: str | None) -> dict[str, Any]:
    """A widget of `kind` placed below the others, charting `metric` (the tenant's busiest)
    so it draws at once; the side panel changes its query."""
    if kind not in WIDGET_TYPES:
        raise ValueError(f"no widget type {kind!r}")
    w, h = NEW_SIZE.get(kind, DEFAULT_SIZE)
    bottom = max((wd["layout"]["y"] + wd["layout"]["h"] for wd in doc["widgets"]), default=0)
    return {
        "id": uuid.uuid4().hex[:12],
        "type": kind,
        "title": PALETTE[kind] if kind == "notifications" or not metric else metric,
        "query": {
            "metric": [metric] if metric and kind != "notifications" else [],
            "source": [],
            "agg": "last" if kind == "kpi" else "avg",
            "step": "auto",
        },
        "live": True,
        "layout": {"x": 0, "y": bottom, "w": min(w, GRID_COLUMNS), "h": h},
    }


def add_widget(doc: dict[str, Any], kind: str, metric: str | None) -> dict[str, Any]:
    """The document with a new widget of `kind` (unchanged at MAX_WIDGETS)."""
    if len(doc["widgets"]) >= MAX_WIDGETS:
        return doc
    out = copy.deepcopy(doc)
    out["widgets"].append(new_widget(doc, kind, metric))
    return out


def remove_widget(doc: dict[str, Any], widget_id: str) -> dict[str, Any]:
    """The document without widget `widget_id`."""
    out = copy.deepcopy(doc)
    out["widgets"] = [w for w in doc["widgets"] if w["id"] != widget_id]
    return out


def update_widget(doc: dict[str, Any], widget_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """The document with widget `widget_id`'s fields replaced by `changes` (title, type,
    query, live)."""
    out = copy.deepcopy(doc)
    for widget in out["widgets"]:
        if widget["id"] == widget_id:
            widget.update(copy.deepcopy(changes))
    return out


def widget_changes(fields: dict[str, Any]) -> dict[str, Any]:
    """A widget's new fields from the side panel's inputs."""
    metrics = fields.get("metric") or []
    sources = fields.get("source") or []
    return {
        "title": str(fields.get("title") or ""),
        "type": fields.get("type") or "line",
        "query": {
            "metric": [metrics] if isinstance(metrics, str) else list(metrics),
            "source": [sources] if isinstance(sources, str) else list(sources),
            "agg": fields.get("agg") or "avg",
            "step": fields.get("step") or "auto",
        },
        "live": bool(fields.get("live")),
        "phone": {
            "order": _order(fields.get("phone_order")),
            "hidden": bool(fields.get("phone_hidden")),
        },
    }


def _order(raw: object) -> int | None:
    """A phone place from the panel's number input: empty is none; a bad one is kept so
    that the document's check names it."""
    if raw in (None, ""):
        return None
    try:
        return int(str(raw))
    except ValueError:
        return -1


def grid_places(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The grid's layout items of a document (`i` is the widget's id)."""
    return [
        {"i": GRID_PREFIX + w["id"], **{k: w["layout"][k] for k in GRID_KEYS}}
        for w in doc["widgets"]
    ]


def with_grid_layout(doc: dict[str, Any], layout: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The document with the places the grid reports (widgets it does not list keep theirs);
    the same document when nothing moved."""
    if not layout:
        return doc
    places = {
        str(item["i"]).removeprefix(GRID_PREFIX): {k: int(item[k]) for k in GRID_KEYS}
        for item in layout
        if "i" in item
    }
    if all(places.get(w["id"], w["layout"]) == w["layout"] for w in doc["widgets"]):
        return doc
    out = copy.deepcopy(doc)
    for widget in out["widgets"]:
        widget["layout"] = places.get(widget["id"], widget["layout"])
    return out


def push_undo(stack: list[dict[str, Any]] | None, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The undo stack with `doc` (the state before a change) on top, UNDO_DEPTH deep."""
    return [*(stack or []), doc][-UNDO_DEPTH:]


def pop_undo(
    stack: list[dict[str, Any]] | None, doc: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the document before the last change, the rest of the stack); `doc` and an empty
    stack when there is nothing to take back. The version stays the loaded one: undoing
    is an edit, not a reload."""
    if not stack:
        return doc, []
    previous = copy.deepcopy(stack[-1])
    previous["version"] = doc.get("version")
    return previous, stack[:-1]


def phone_places(doc: dict[str, Any], order: list[str]) -> list[dict[str, Any]]:
    """The one-column layout of a phone: widgets in `order` (the phone sequence), stacked."""
    heights = {w["id"]: w["layout"]["h"] for w in doc["widgets"]}
    places, y = [], 0
    for widget_id in order:
        places.append(
            {"i": GRID_PREFIX + widget_id, "x": 0, "y": y, "w": 1, "h": heights[widget_id]}
        )
        y += heights[widget_id]
    return places
