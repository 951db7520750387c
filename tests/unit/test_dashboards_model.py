"""The dashboard document (data/domain/dashboards.py, dashboard_documents.py): what the
contract's §6 accepts, every limit refused with one detail per field, schema migrations,
export and import by metric names, personal views, phone order and who may edit."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from data.domain.dashboard_documents import (
    MIGRATIONS,
    SCHEMA_VERSION,
    export_document,
    generated_home,
    import_document,
    load_stored,
    unmatched_metrics,
)
from data.domain.dashboards import (
    MAX_LIVE_PATTERNS,
    Actor,
    PersonalView,
    TimeRange,
    live_patterns,
    may_edit,
    may_view,
    parse_dashboard,
    parse_view,
    phone_sequence,
    with_view,
)
from data.domain.errors import Invalid


def widget(wid: str = "w1", kind: str = "line", x: int = 0, y: int = 0, **extra: Any) -> dict:
    """A widget as CONTRACT.md §6 writes it."""
    return {
        "id": wid,
        "type": kind,
        "title": "Orders",
        "query": {"metric": ["sales.orders"], "source": [], "agg": "avg", "step": "auto"},
        "live": True,
        "layout": {"x": x, "y": y, "w": 6, "h": 4},
        **extra,
    }


def dashboard(**extra: Any) -> dict:
    """A dashboard as CONTRACT.md §6 writes it."""
    return {
        "title": "Sales",
        "shared": False,
        "time": {"start": "now-6h", "end": "now"},
        "widgets": [widget("w1"), widget("w2", "kpi", x=6)],
        **extra,
    }


def problems(doc: Any) -> list[dict[str, str]]:
    """The per-field details of refusing `doc` (which must be refused)."""
    with pytest.raises(Invalid) as caught:
        parse_dashboard(doc)
    assert caught.value.code == "invalid_dashboard"
    return caught.value.details


def fields(doc: Any) -> set[str]:
    return {p["field"] for p in problems(doc)}


def test_the_contracts_dashboard_parses_with_defaults_for_the_extensions() -> None:
    spec = parse_dashboard(dashboard())
    assert [w.id for w in spec.widgets] == ["w1", "w2"]
    assert spec.widgets[0].phone.order is None and spec.widgets[0].phone.hidden is False
    assert spec.widgets[0].time is None
    assert spec.filters.source == []


def test_what_the_api_shows_around_a_dashboard_is_set_aside_not_refused() -> None:
    """A body sent back as GET gave it (id, version, owner…) is accepted."""
    doc = dashboard(id="x", version=3, owner="ann", updated_at="…", view=None, editable=True)
    assert parse_dashboard(doc).title == "Sales"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(title=""), "title"),
        (lambda d: d.update(title="   "), "title"),
        (lambda d: d.update(title="t" * 201), "title"),
        (lambda d: d.update(shared="yes"), "shared"),
        (lambda d: d.update(colour="red"), "colour"),
        (lambda d: d["time"].update(start="yesterday"), "time.start"),
        (lambda d: d["time"].update(start="now", end="now-1h"), "time.end"),
        (lambda d: d["time"].update(start="now-500d"), "time.end"),
        (lambda d: d.update(widgets=[widget(f"w{i}", y=i) for i in range(51)]), "widgets"),
        (lambda d: d["widgets"][1].update(id="w1"), "widgets.1.id"),
        (lambda d: d["widgets"][0].update(id="a b"), "widgets.0.id"),
        (lambda d: d["widgets"][0].update(type="gauge"), "widgets.0.type"),
        (lambda d: d["widgets"][0].update(title="t" * 201), "widgets.0.title"),
        (lambda d: d["widgets"][0]["layout"].update(x=8), "widgets.0.layout.w"),
        (lambda d: d["widgets"][0]["layout"].update(x=12, w=1), "widgets.0.layout.x"),
        (lambda d: d["widgets"][0]["layout"].update(w=0), "widgets.0.layout.w"),
        (lambda d: d["widgets"][0]["layout"].update(h=41), "widgets.0.layout.h"),
        (lambda d: d["widgets"][0]["layout"].update(y=-1), "widgets.0.layout.y"),
        (lambda d: d["widgets"][0]["layout"].update(y=True), "widgets.0.layout.y"),
        (lambda d: d["widgets"][0]["layout"].update(x=1.5), "widgets.0.layout.x"),
        (lambda d: d["widgets"][0]["query"].update(metric=[]), "widgets.0.query.metric"),
        (
            lambda d: d["widgets"][0]["query"].update(metric=["bad name"]),
            "widgets.0.query.metric.0",
        ),
        (lambda d: d["widgets"][0]["query"].update(metric=["a*" * 9]), "widgets.0.query.metric.0"),
        (
            lambda d: d["widgets"][0]["query"].update(metric=[f"m{i}" for i in range(21)]),
            "widgets.0.query.metric",
        ),
        (lambda d: d["widgets"][0]["query"].update(agg="median"), "widgets.0.query.agg"),
        (lambda d: d["widgets"][0]["query"].update(step="0s"), "widgets.0.query.step"),
        (lambda d: d["widgets"][0]["query"].update(step="500d"), "widgets.0.query.step"),
        (
            lambda d: d["widgets"][0].update(time={"start": "now", "end": "now-1d"}),
            "widgets.0.time.end",
        ),
        (lambda d: d["widgets"][1].update(phone={"order": 50}), "widgets.1.phone.order"),
        (lambda d: d.update(filters={"source": ["x"] * 21}), "filters.source"),
        (lambda d: d.update(title="a\x00b"), "title"),
    ],
)
def test_each_limit_is_refused_naming_its_field(change: Any, field: str) -> None:
    doc = dashboard()
    change(doc)
    assert field in fields(doc)


def test_every_bad_field_of_one_document_gets_its_own_detail() -> None:
    doc = dashboard()
    doc["widgets"][0]["layout"]["x"] = 9  # x + w = 15
    doc["widgets"][1]["id"] = "w1"
    doc["widgets"][1]["phone"] = {"order": 0}
    doc["widgets"][0]["phone"] = {"order": 0}
    assert problems(doc) == [
        {"field": "widgets.0.layout.w", "message": "x + w must be at most 12"},
        {"field": "widgets.1.id", "message": "another widget has this id"},
        {"field": "widgets.1.phone.order", "message": "another widget has it"},
    ]


def test_a_notifications_widget_needs_no_metric_and_counts_nothing_live() -> None:
    doc = dashboard(widgets=[widget("n", "notifications", query={})])
    assert parse_dashboard(doc).widgets[0].query.metric == []


def test_live_widgets_may_follow_at_most_one_sockets_patterns() -> None:
    """One /ws socket per page carries every live widget: 100 patterns, metrics and sources
    together; a widget that is not live does not count."""
    metrics = [f"m{i}" for i in range(20)]
    many = [
        widget(f"w{i}", y=i, query={"metric": metrics, "source": [f"s{i}-{j}" for j in range(5)]})
        for i in range(4)
    ]
    assert len(live_patterns(parse_dashboard(dashboard(widgets=many)).widgets)) == 40
    # 40 + 1 metric + 60 sources: one over MAX_LIVE_PATTERNS
    more = many + [
        widget("x", y=9, query={"metric": ["other"], "source": [f"t{j}" for j in range(60)]})
    ]
    assert problems(dashboard(widgets=more)) == [
        {
            "field": "widgets",
            "message": f"live widgets may follow at most {MAX_LIVE_PATTERNS} metric and source"
            " patterns together",
        }
    ]
    more[-1]["live"] = False
    parse_dashboard(dashboard(widgets=more))


def test_a_document_that_is_no_object_is_refused_as_the_body() -> None:
    assert problems([1, 2]) == [{"field": "body", "message": "must be a JSON object"}]


def test_times_may_be_relative_absolute_or_epoch_seconds() -> None:
    for start, end in [("now-7d", "now"), ("2026-11-27T00:00:00Z", "2026-11-28T00:00:00Z")]:
        parse_dashboard(dashboard(time={"start": start, "end": end}))
    parse_dashboard(dashboard(time={"start": "1764201600", "end": "now"}))
    assert "time.end" in fields(dashboard(time={"start": "1764201600", "end": "1764201600"}))


# -- schema versions, export, import -----------------------------------------------------------

V1 = {
    "schema_version": 1,
    "title": "Ops",
    "time": {"start": "now-1h", "end": "now"},
    "widgets": [
        {
            "id": "cpu",
            "type": "line",
            "title": "CPU",
            "query": {"metric": "cpu.usage", "source": "web-1", "agg": "max", "step": "1m"},
            "live": True,
            "layout": {"x": 6, "y": 0, "w": 6, "h": 4},
        },
        {
            "id": "orders",
            "type": "kpi",
            "title": "Orders",
            "query": {"metric": ["sales.orders"], "source": [], "agg": "sum", "step": "auto"},
            "live": True,
            "layout": {"x": 0, "y": 0, "w": 6, "h": 4},
        },
    ],
}


def test_every_older_schema_version_has_its_migration() -> None:
    assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION))


def test_a_v1_document_is_migrated_on_import() -> None:
    """v1 queries could name one metric as a string; v2 fixes each widget's phone order at
    the v1 grid's reading order (row, then column)."""
    spec = import_document(copy.deepcopy(V1))
    cpu, orders = spec.widgets
    assert cpu.query.metric == ["cpu.usage"] and cpu.query.source == ["web-1"]
    assert (orders.phone.order, cpu.phone.order) == (0, 1)
    assert [w.id for w in phone_sequence(spec)] == ["orders", "cpu"]
    assert export_document(spec)["schema_version"] == SCHEMA_VERSION


def test_a_stored_v1_document_is_migrated_on_load_and_the_original_left_alone() -> None:
    stored = {k: v for k, v in copy.deepcopy(V1).items() if k != "schema_version"}
    before = copy.deepcopy(stored)
    spec = load_stored(stored, 1, shared=True)
    assert spec.shared and spec.widgets[0].query.metric == ["cpu.usage"]
    assert stored == before


@pytest.mark.parametrize("version", [None, 0, SCHEMA_VERSION + 1, "2", True])
def test_an_import_of_no_or_an_unknown_schema_version_is_refused(version: Any) -> None:
    doc = {**copy.deepcopy(V1), "schema_version": version}
    with pytest.raises(Invalid) as caught:
        import_document(doc)
    assert [d["field"] for d in caught.value.details] == ["schema_version"]


def test_export_then_import_gives_the_same_dashboard_and_names_no_ids() -> None:
    spec = parse_dashboard(dashboard(shared=True, id="3c9a…", version=7))
    exported = export_document(spec)
    assert set(exported) == {"schema_version", "title", "time", "filters", "widgets"}
    assert "3c9a" not in json.dumps(exported)
    back = import_document(json.loads(json.dumps(exported)))
    assert back == spec.model_copy(update={"shared": False})  # sharing is the importer's call


def test_an_import_renames_metrics_into_the_other_tenants_names() -> None:
    exported = export_document(parse_dashboard(dashboard()))
    spec = import_document(exported, {"sales.orders": "shop.orders"})
    assert {m for w in spec.widgets for m in w.query.metric} == {"shop.orders"}
    assert unmatched_metrics(spec, ["shop.orders", "cpu"]) == []
    assert unmatched_metrics(spec, ["cpu"]) == ["shop.orders"]
    with pytest.raises(Invalid) as caught:
        import_document(exported, {"sales.orders": "bad name"})
    assert caught.value.details[0]["field"] == "rename.sales.orders"


def test_an_imported_document_is_checked_like_any_other() -> None:
    doc = copy.deepcopy(V1)
    doc["widgets"][0]["layout"]["w"] = 13
    with pytest.raises(Invalid) as caught:
        import_document(doc)
    assert caught.value.details[0]["field"] == "widgets.0.layout.w"


# -- generated home, phone, personal view, rights -------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 3, 4, 9])
def test_a_generated_home_shows_top_metrics_as_kpis_and_lines_within_the_grid(count: int) -> None:
    metrics = [f"metric.{i}" for i in range(count)]
    spec = generated_home(metrics)
    shown = min(count, 4)
    kinds = [w.type for w in spec.widgets]
    assert kinds == ["kpi"] * shown + ["line"] * shown + ["notifications"]
    assert [w.query.metric for w in spec.widgets if w.type == "line"] == [
        [m] for m in metrics[:shown]
    ]
    assert spec.shared
    assert parse_dashboard(spec.model_dump(mode="json")) == spec  # every limit holds
    cells = [
        (x, y)
        for w in spec.widgets
        for x in range(w.layout.x, w.layout.x + w.layout.w)
        for y in range(w.layout.y, w.layout.y + w.layout.h)
    ]
    assert len(cells) == len(set(cells))  # no two widgets overlap


def test_a_phone_shows_ordered_widgets_first_then_reading_order_without_hidden_ones() -> None:
    doc = dashboard(
        widgets=[
            widget("top-left", x=0, y=0),
            widget("top-right", x=6, y=0, phone={"hidden": True}),
            widget("below", x=0, y=4),
            widget("first", x=6, y=4, phone={"order": 0}),
        ]
    )
    assert [w.id for w in phone_sequence(parse_dashboard(doc))] == ["first", "top-left", "below"]


def test_a_personal_view_overrides_time_and_filters_and_checks_collapsed_ids() -> None:
    spec = parse_dashboard(dashboard())
    view = parse_view({"time": {"start": "now-7d", "end": "now"}, "collapsed": ["w2", "w2"]}, spec)
    assert view.collapsed == ["w2"]
    seen = with_view(spec, view)
    assert seen.time == TimeRange(start="now-7d", end="now")
    assert seen.widgets == spec.widgets and spec.time.start == "now-6h"
    assert with_view(spec, PersonalView()) == spec
    with pytest.raises(Invalid) as caught:
        parse_view({"collapsed": ["nope"], "filters": {"source": ["bad name"]}}, spec)
    assert {d["field"] for d in caught.value.details} == {"filters.source.0"}
    with pytest.raises(Invalid) as caught:
        parse_view({"collapsed": ["nope"]}, spec)
    assert caught.value.details == [
        {"field": "collapsed.0", "message": "no widget 'nope' on this dashboard"}
    ]


@pytest.mark.parametrize(
    ("role", "owner", "shared", "sees", "edits"),
    [
        ("viewer", "me", False, True, True),  # anyone may keep personal dashboards
        ("viewer", "other", False, False, False),
        ("viewer", "other", True, True, False),
        ("analyst", "other", True, True, False),
        ("admin", "other", True, True, True),
        ("admin", "other", False, False, False),  # another's personal one: not even admins
        ("admin", None, True, True, True),  # a generated home
    ],
)
def test_who_sees_and_who_edits(
    role: str, owner: str | None, shared: bool, sees: bool, edits: bool
) -> None:
    actor = Actor("t-1", "me", role)
    assert may_view(actor, owner, shared) is sees
    assert may_edit(actor, owner, shared) is edits
