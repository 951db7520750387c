"""A dashboard as a document (CONTRACT.md §6): its widgets, their queries and places on the
grid, the personal view a user keeps of it, and who may see or change it. Pure: no I/O.

What a client sends is checked here with pydantic, and every refusal becomes the contract's
per-field details (`widgets.3.layout.w`: "x + w must be at most 12"), raised as Invalid with
subject "dashboard" (code `invalid_dashboard`). Beyond the contract's fields a widget may
carry its own time range (`time`) and its place on a phone (`phone`: order, hidden), and a
dashboard its filters (`filters.source`), which a personal view may override.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from data.domain.errors import Invalid
from data.domain.jsontext import storable
from data.domain.patterns import MAX_WILDCARDS, wildcards
from data.domain.points import parse_timestamp_ms
from data.domain.validation import field_problems

WIDGET_TYPES = ("kpi", "line", "area", "bar", "pie", "heatmap", "table", "notifications")
AGGS = ("avg", "min", "max", "sum", "count", "last")
GRID_COLUMNS = 12
MAX_WIDGETS = 50
MAX_TITLE_CHARS = 200
MAX_WIDGET_TITLE_CHARS = 200
MAX_METRICS_PER_WIDGET = 20  # what one /api/data query takes
MAX_SOURCES_PER_WIDGET = 100
MAX_FILTER_SOURCES = 20
# One /ws socket carries every live widget of a page, and a socket takes at most 100
# patterns, metrics and sources together (app/stream/protocol.py MAX_PATTERNS): a dashboard
# whose live widgets need more could never be live, so it is refused when saved.
MAX_LIVE_PATTERNS = 100
MAX_ROW = 1000  # y: a dashboard a thousand rows tall is a typo, not a layout
MAX_HEIGHT = 40  # h, in grid rows
MAX_RANGE_MS = 400 * 86_400_000  # the longest range /api/data answers
SUBJECT = "dashboard"

UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_RELATIVE = re.compile(r"now(?:([+-])(\d{1,9})([smhdw]))?")
_EPOCH = re.compile(r"\d{1,12}(?:\.\d{1,6})?")
_STEP = re.compile(r"auto|([1-9]\d{0,8})([smhdw])")
_PATTERN = re.compile(r"[A-Za-z0-9_.:\-*]{1,128}")
_WIDGET_ID = re.compile(r"[A-Za-z0-9_\-]{1,64}")
TIME_MESSAGE = "must be RFC 3339 with a zone, epoch seconds, or relative: now, now-15m, now-7d"


def time_offset_ms(raw: str) -> tuple[str, int] | None:
    """("relative", ms from now) or ("absolute", epoch ms) of a time as /api/data reads it;
    None when it is not one."""
    relative = _RELATIVE.fullmatch(raw)
    if relative:
        offset = int(relative[2]) * UNIT_MS[relative[3]] if relative[1] else 0
        return "relative", -offset if relative[1] == "-" else offset
    if _EPOCH.fullmatch(raw):
        return "absolute", round(float(raw) * 1000)
    ts_ms = parse_timestamp_ms(raw)
    return ("absolute", ts_ms) if ts_ms is not None else None


def _time_text(value: str) -> str:
    if len(value) > 40 or time_offset_ms(value) is None:
        raise ValueError(TIME_MESSAGE)
    return value


def _step_text(value: str) -> str:
    match = _STEP.fullmatch(value)
    if not match or (match[1] and int(match[1]) * UNIT_MS[match[2]] > MAX_RANGE_MS):
        raise ValueError("must be auto or <n><unit> (units s, m, h, d, w) up to 400d")
    return value


def _pattern(value: str) -> str:
    if not _PATTERN.fullmatch(value):
        raise ValueError("must be 1-128 characters of A-Z a-z 0-9 _ . : - and * (any run)")
    if wildcards(value) > MAX_WILDCARDS:
        raise ValueError(f"at most {MAX_WILDCARDS} * in one pattern")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _widget_id(value: str) -> str:
    if not _WIDGET_ID.fullmatch(value):
        raise ValueError("must be 1-64 characters of A-Z a-z 0-9 _ -")
    return value


TimeText = Annotated[str, AfterValidator(_time_text)]
Step = Annotated[str, AfterValidator(_step_text)]
Pattern = Annotated[str, AfterValidator(_pattern)]
WidgetId = Annotated[str, AfterValidator(_widget_id)]
WidgetType = Literal["kpi", "line", "area", "bar", "pie", "heatmap", "table", "notifications"]
Agg = Literal["avg", "min", "max", "sum", "count", "last"]
_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class TimeRange(BaseModel):
    """A range as /api/data takes it: `{"start": "now-6h", "end": "now"}`."""

    model_config = _STRICT

    start: TimeText = "now-6h"
    end: TimeText = "now"


class Query(BaseModel):
    """What a widget shows: metrics (names or globs), sources (none: all), agg and step."""

    model_config = _STRICT

    metric: list[Pattern] = Field(default_factory=list, max_length=MAX_METRICS_PER_WIDGET)
    source: list[Pattern] = Field(default_factory=list, max_length=MAX_SOURCES_PER_WIDGET)
    agg: Agg = "avg"
    step: Step = "auto"


class GridPlace(BaseModel):
    """A widget's place on the 12-column grid, in columns and rows."""

    model_config = _STRICT

    x: Annotated[int, Field(ge=0, lt=GRID_COLUMNS)]
    y: Annotated[int, Field(ge=0, le=MAX_ROW)]
    w: Annotated[int, Field(ge=1, le=GRID_COLUMNS)]
    h: Annotated[int, Field(ge=1, le=MAX_HEIGHT)]


class PhonePlace(BaseModel):
    """Where a widget goes on a phone, where widgets stack in one column: `order` (none:
    after the ordered ones, in reading order of the grid) and `hidden`."""

    model_config = _STRICT

    order: Annotated[int, Field(ge=0, lt=MAX_WIDGETS)] | None = None
    hidden: bool = False


class Widget(BaseModel):
    """One widget of a dashboard."""

    model_config = _STRICT

    id: WidgetId
    type: WidgetType
    title: Annotated[str, Field(max_length=MAX_WIDGET_TITLE_CHARS)] = ""
    query: Query = Field(default_factory=Query)
    live: bool = True
    time: TimeRange | None = None  # its own range; none: the dashboard's
    layout: GridPlace
    phone: PhonePlace = Field(default_factory=PhonePlace)


class Filters(BaseModel):
    """Filters over every widget of a dashboard (a personal view may set its own)."""

    model_config = _STRICT

    source: list[Pattern] = Field(default_factory=list, max_length=MAX_FILTER_SOURCES)


class DashboardSpec(BaseModel):
    """What a dashboard is, as its editor sends it (id, version and owner travel apart)."""

    model_config = _STRICT

    title: Annotated[
        str, Field(min_length=1, max_length=MAX_TITLE_CHARS), AfterValidator(_not_blank)
    ]
    shared: bool = False
    time: TimeRange = Field(default_factory=TimeRange)
    filters: Filters = Field(default_factory=Filters)
    widgets: list[Widget] = Field(default_factory=list, max_length=MAX_WIDGETS)

    def document(self) -> dict[str, Any]:
        """The stored document: everything but `shared`, which the store keeps as a column."""
        return self.model_dump(mode="json", exclude={"shared"})


class PersonalView(BaseModel):
    """A user's own view of a dashboard, kept for them without copying it."""

    model_config = _STRICT

    time: TimeRange | None = None
    filters: Filters | None = None
    collapsed: list[WidgetId] = Field(default_factory=list, max_length=MAX_WIDGETS)


# What the API shows around a dashboard's own fields; a body sent back as it was read
# carries them, so they are set aside rather than refused.
ENVELOPE = ("id", "version", "owner", "editable", "created_at", "updated_at", "view", "home")


def parse_dashboard(doc: Any) -> DashboardSpec:
    """A checked dashboard, or Invalid with one {"field", "message"} per problem."""
    if not isinstance(doc, dict):
        raise Invalid.field("body", "must be a JSON object", SUBJECT)
    body = {k: v for k, v in doc.items() if k not in ENVELOPE}
    _refuse_unstorable(body)
    try:
        spec = DashboardSpec.model_validate(body)
    except ValidationError as exc:
        raise Invalid(field_problems(exc), SUBJECT) from None
    problems = _time_problems(spec.time, "time")
    problems += _widget_problems(spec.widgets)
    if problems:
        raise Invalid(problems, SUBJECT)
    return spec


def parse_view(doc: Any, spec: DashboardSpec) -> PersonalView:
    """A checked personal view of `spec`; collapsed ids must name its widgets."""
    if not isinstance(doc, dict):
        raise Invalid.field("body", "must be a JSON object", SUBJECT)
    _refuse_unstorable(doc)
    try:
        view = PersonalView.model_validate(doc)
    except ValidationError as exc:
        raise Invalid(field_problems(exc), SUBJECT) from None
    problems = _time_problems(view.time, "time") if view.time else []
    ids = {w.id for w in spec.widgets}
    problems += [
        {"field": f"collapsed.{i}", "message": f"no widget {wid!r} on this dashboard"}
        for i, wid in enumerate(view.collapsed)
        if wid not in ids
    ]
    if problems:
        raise Invalid(problems, SUBJECT)
    return view.model_copy(update={"collapsed": list(dict.fromkeys(view.collapsed))})


def _refuse_unstorable(doc: dict[str, Any]) -> None:
    # PostgreSQL refuses NUL and lone surrogates in jsonb: a 500 instead of a 422
    bad = [
        {"field": str(key), "message": "must not contain NUL or unpaired surrogate characters"}
        for key, value in doc.items()
        if not (storable(key) and storable(value))
    ]
    if bad:
        raise Invalid(bad, SUBJECT)


def _time_problems(time: TimeRange, field: str) -> list[dict[str, str]]:
    """Start before end, at most MAX_RANGE_MS apart, when both are of one kind (a relative
    and an absolute time compare only against a clock)."""
    start, end = time_offset_ms(time.start), time_offset_ms(time.end)
    if start is None or end is None or start[0] != end[0]:
        return []
    if start[1] >= end[1]:
        return [{"field": f"{field}.end", "message": "must be after start"}]
    if end[1] - start[1] > MAX_RANGE_MS:
        return [{"field": f"{field}.end", "message": "the range is at most 400 days"}]
    return []


def _widget_problems(widgets: list[Widget]) -> list[dict[str, str]]:
    """What pydantic cannot see field by field: the grid's width, unique ids and phone
    orders, a query for every widget that charts data, and the page's one socket."""
    problems: list[dict[str, str]] = []
    seen_ids: set[str] = set()
    seen_orders: set[int] = set()
    for i, widget in enumerate(widgets):
        at = f"widgets.{i}"
        if widget.layout.x + widget.layout.w > GRID_COLUMNS:
            problems.append({"field": f"{at}.layout.w", "message": "x + w must be at most 12"})
        if widget.id in seen_ids:
            problems.append({"field": f"{at}.id", "message": "another widget has this id"})
        seen_ids.add(widget.id)
        order = widget.phone.order
        if order is not None and order in seen_orders:
            problems.append({"field": f"{at}.phone.order", "message": "another widget has it"})
        if order is not None:
            seen_orders.add(order)
        if widget.type != "notifications" and not widget.query.metric:
            problems.append({"field": f"{at}.query.metric", "message": "at least one metric"})
        if widget.time is not None:
            problems += _time_problems(widget.time, f"{at}.time")
    if len(live_patterns(widgets)) > MAX_LIVE_PATTERNS:
        message = f"live widgets may follow at most {MAX_LIVE_PATTERNS} metric and source patterns"
        problems.append({"field": "widgets", "message": message + " together"})
    return problems


def live_patterns(widgets: list[Widget]) -> set[tuple[str, str]]:
    """The distinct (kind, pattern) pairs a page's one socket subscribes to for its live
    widgets: what MAX_LIVE_PATTERNS caps."""
    out: set[tuple[str, str]] = set()
    for widget in widgets:
        if widget.live and widget.type != "notifications":
            out.update(("metric", m) for m in widget.query.metric)
            out.update(("source", s) for s in widget.query.source)
    return out


def phone_sequence(spec: DashboardSpec) -> list[Widget]:
    """The widgets a phone shows, top to bottom: those with a phone order by it, then the
    rest in reading order of the grid (row, then column); hidden ones left out."""
    shown = [w for w in spec.widgets if not w.phone.hidden]
    ordered = sorted((w for w in shown if w.phone.order is not None), key=_phone_order)
    rest = sorted((w for w in shown if w.phone.order is None), key=_reading_order)
    return ordered + rest


def _phone_order(widget: Widget) -> int:
    return widget.phone.order or 0


def _reading_order(widget: Widget) -> tuple[int, int]:
    return widget.layout.y, widget.layout.x


def with_view(spec: DashboardSpec, view: PersonalView | None) -> DashboardSpec:
    """The dashboard as a user sees it through their personal view (nothing is copied)."""
    if view is None:
        return spec
    return spec.model_copy(
        update={"time": view.time or spec.time, "filters": view.filters or spec.filters}
    )


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts on a dashboard: a signed-in user, their tenant and role. The store reads
    and writes in the actor's own tenant only, so no call can pair a user with another
    tenant's dashboards."""

    tenant_id: str
    user_id: str
    role: str

    @property
    def may_share(self) -> bool:
        """Sharing with the tenant needs analyst or admin (CONTRACT.md §6)."""
        return self.role in ("analyst", "admin")


def may_view(actor: Actor, owner_id: str | None, shared: bool) -> bool:
    """Whether the actor sees a dashboard of their tenant: their own or a shared one."""
    return shared or owner_id == actor.user_id


def may_edit(actor: Actor, owner_id: str | None, shared: bool) -> bool:
    """Whether the actor may change or delete it: the owner, or an admin when it is shared."""
    return owner_id == actor.user_id or (shared and actor.role == "admin")
