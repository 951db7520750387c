"""Dashboards as code: the exported JSON with its `schema_version`, the migrations that bring
an older document to the current version on load, import by metric names (so a dashboard
moves between tenants), and the home dashboard generated for a new tenant. Pure: no I/O.

An exported document names nothing of its tenant: no dashboard, user or tenant id, only
metric and source names, so importing it elsewhere needs nothing but those names (renamed
on the way in when the other tenant calls a metric differently).

Schema versions:
  1  the dashboard of CONTRACT.md §6 as first written: title, time, widgets with id, type,
     title, query, live, layout; a query's `metric` or `source` could be one name.
  2  + per widget: `phone` (order, hidden) and its own `time`; per dashboard: `filters`.
     Queries hold lists only. A v1 widget's phone order is fixed at its reading order on
     the grid, so a later edit of the desktop layout does not reshuffle the phone.
A stored or imported document is migrated one version at a time on load; a change that
tightens a limit comes with a migration that brings stored documents within it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from data.domain.dashboards import (
    ENVELOPE,
    SUBJECT,
    DashboardSpec,
    GridPlace,
    Widget,
    parse_dashboard,
)
from data.domain.errors import Invalid
from data.domain.patterns import PatternSet
from data.domain.points import NAME_RE

SCHEMA_VERSION = 2
MAX_RENAMES = 200
HOME_TITLE = "Home"
HOME_METRICS = 4  # KPI + line each: a home that does not grow with the tenant's metrics

Doc = dict[str, Any]


def _v1_to_v2(doc: Doc) -> Doc:
    """Queries of lists only; each widget's phone order fixed at its reading order."""
    widgets = doc.get("widgets")
    if not isinstance(widgets, list):
        return doc  # validation names what is wrong
    placed = [w for w in widgets if isinstance(w, dict)]
    ranked = sorted(range(len(placed)), key=lambda i: _grid_position(placed[i]))
    for rank, index in enumerate(ranked):
        widget = placed[index]
        query = widget.get("query")
        if isinstance(query, dict):
            for key in ("metric", "source"):
                if isinstance(query.get(key), str):
                    query[key] = [query[key]]
        widget.setdefault("phone", {"order": rank, "hidden": False})
    return doc


def _grid_position(widget: Doc) -> tuple[int, int]:
    layout = widget.get("layout")
    if not isinstance(layout, dict):
        return 0, 0
    y, x = layout.get("y"), layout.get("x")
    return (y if type(y) is int else 0), (x if type(x) is int else 0)


# vN → vN+1, applied in turn from a document's version up to SCHEMA_VERSION.
MIGRATIONS: dict[int, Callable[[Doc], Doc]] = {1: _v1_to_v2}


def upgrade(doc: Doc, version: int) -> Doc:
    """A copy of `doc` (of schema `version`) migrated to SCHEMA_VERSION."""
    out = _deep_copy(doc)
    for step in range(version, SCHEMA_VERSION):
        out = MIGRATIONS[step](out)
    out["schema_version"] = SCHEMA_VERSION
    return out


def _deep_copy(value: Any) -> Any:
    # a decoded JSON document: dicts, lists and scalars only
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def load_stored(doc: Doc, schema_version: int, shared: bool) -> DashboardSpec:
    """A stored dashboard document, migrated when older than SCHEMA_VERSION."""
    current = upgrade(doc, schema_version) if schema_version < SCHEMA_VERSION else dict(doc)
    current.pop("schema_version", None)
    return parse_dashboard({**current, "shared": shared})


def export_document(spec: DashboardSpec) -> Doc:
    """The dashboard as JSON to keep, diff or import elsewhere: names only, no ids."""
    return {"schema_version": SCHEMA_VERSION, **spec.document()}


def import_document(doc: Any, rename: Mapping[str, str] | None = None) -> DashboardSpec:
    """A dashboard from an exported document of any known schema version, its metric names
    renamed through `rename`; it comes in personal (sharing is the importer's decision)."""
    if not isinstance(doc, dict):
        raise Invalid.field("body", "must be a JSON object", SUBJECT)
    version = doc.get("schema_version")
    if type(version) is not int or not 1 <= version <= SCHEMA_VERSION:
        message = f"must be an integer from 1 to {SCHEMA_VERSION} (this Pulse's newest)"
        raise Invalid.field("schema_version", message, SUBJECT)
    renames = _checked_renames(rename or {})
    body = upgrade({k: v for k, v in doc.items() if k not in (*ENVELOPE, "shared")}, version)
    body.pop("schema_version")
    spec = parse_dashboard(body)
    if not renames:
        return spec
    widgets = [_renamed(w, renames) for w in spec.widgets]
    return parse_dashboard({**spec.model_dump(mode="json"), "widgets": widgets})


def _checked_renames(rename: Mapping[str, str]) -> dict[str, str]:
    if len(rename) > MAX_RENAMES:
        raise Invalid.field("rename", f"at most {MAX_RENAMES} metrics", SUBJECT)
    bad = [
        {"field": f"rename.{old}"[:200], "message": "old and new must be metric names"}
        for old, new in rename.items()
        if not (
            isinstance(old, str)
            and isinstance(new, str)
            and NAME_RE.fullmatch(old)
            and NAME_RE.fullmatch(new)
        )
    ]
    if bad:
        raise Invalid(bad, SUBJECT)
    return dict(rename)


def _renamed(widget: Widget, renames: dict[str, str]) -> Doc:
    doc = widget.model_dump(mode="json")
    doc["query"]["metric"] = list(dict.fromkeys(renames.get(m, m) for m in widget.query.metric))
    return doc


def metric_patterns(spec: DashboardSpec) -> list[str]:
    """Every metric name or glob the dashboard's widgets query, each once."""
    return list(dict.fromkeys(m for w in spec.widgets for m in w.query.metric))


def unmatched_metrics(spec: DashboardSpec, known: Iterable[str]) -> list[str]:
    """The metric names and globs of `spec` that match none of the tenant's `known` metrics
    (what an import should point out, or offer to rename)."""
    names = list(known)
    return [p for p in metric_patterns(spec) if not any(map(PatternSet([p]).matches, names))]


def generated_home(metrics: Sequence[str]) -> DashboardSpec:
    """A new tenant's home: its top metrics as a KPI row and live lines, then the latest
    notifications; shared, so every user of the tenant starts from it."""
    top = list(dict.fromkeys(metrics))[:HOME_METRICS]
    widgets = [
        _home_widget(f"kpi-{i + 1}", "kpi", m, GridPlace(x=3 * i, y=0, w=3, h=2), "last")
        for i, m in enumerate(top)
    ]
    widgets += [
        _home_widget(
            f"line-{i + 1}", "line", m, GridPlace(x=6 * (i % 2), y=2 + 4 * (i // 2), w=6, h=4)
        )
        for i, m in enumerate(top)
    ]
    below = 2 + 4 * ((len(top) + 1) // 2) if top else 0
    place = GridPlace(x=0, y=below, w=12, h=4)
    widgets.append(
        Widget(id="notifications", type="notifications", title="Notifications", layout=place)
    )
    return DashboardSpec(title=HOME_TITLE, shared=True, widgets=widgets)


def _home_widget(wid: str, kind: str, metric: str, place: GridPlace, agg: str = "avg") -> Widget:
    return Widget.model_validate(
        {
            "id": wid,
            "type": kind,
            "title": metric,
            "query": {"metric": [metric], "agg": agg},
            "layout": place.model_dump(),
        }
    )
