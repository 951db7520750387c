"""The /api's own models: query parameters and answers, and the bodies the domain does not
already define. /api/openapi.json is generated from them (app/api/document.py).

Definitions users send are the domain's (data/domain/rule_spec.py RuleSpec,
data/domain/source_spec.py SourceSpec and its configs): referenced here, never re-typed.
The routes read their parameters as before, with the contract's error bodies; the limits
below are the constants those routes check, so the document cannot drift from them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints

from app.stream.protocol import MAX_PATTERNS, PATTERN_RE
from data.domain.data_query import MAX_METRICS, MAX_SOURCES
from data.domain.points import MAX_DATA_ID, MAX_POINTS, NAME_RE
from data.stores.live import CURSOR_RE

Name = Annotated[str, StringConstraints(pattern=f"^{NAME_RE.pattern}$")]
Pattern = Annotated[str, StringConstraints(pattern=f"^{PATTERN_RE.pattern}$")]
TIME_TEXT = "RFC 3339 with a zone, epoch seconds, or relative: now, now-15m, now-6h, now-7d"
Agg = Literal["avg", "min", "max", "sum", "count", "last"]


class Query(BaseModel):
    """Query parameters: each field is one parameter (a list one repeats)."""

    model_config = ConfigDict(extra="ignore")  # parameters a route does not know are ignored


class ErrorDetail(BaseModel):
    """One problem: the field it concerns (with the index of a point on ingest)."""

    field: str | None = None
    message: str | None = None
    index: int | None = None


class ErrorInfo(BaseModel):
    code: str = Field(description="machine-readable, e.g. invalid_rule, not_found")
    message: str
    details: list[ErrorDetail | dict[str, Any]]


class ErrorBody(BaseModel):
    """Every refusal: a 4xx with this body (a 503 when a backing service is away)."""

    error: ErrorInfo


# -- ingest, metrics, stream token, dead letters ------------------------------------------


class Point(BaseModel):
    """One point (CONTRACT §3 Points). `timestamp` must lie within the retention window and
    at most 5 minutes ahead; `value` must be finite."""

    model_config = ConfigDict(extra="forbid")

    data_id: Annotated[str, Field(min_length=1, max_length=MAX_DATA_ID)] | None = Field(
        None, description="optional idempotency key: printable characters"
    )
    source: Name
    metric_type: Name
    timestamp: datetime | float = Field(description="RFC 3339, or epoch seconds")
    value: float


class PointsEnvelope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: list[Point] = Field(max_length=MAX_POINTS)


class IngestBody(RootModel[Annotated[list[Point], Field(max_length=MAX_POINTS)] | PointsEnvelope]):
    """A JSON array of points, or `{"points": [...]}`; NDJSON takes one point a line."""


class Accepted(BaseModel):
    accepted: int = Field(ge=1, description="every point is durably queued")


class IngestParams(Query):
    """The parameters of /api/ingest: line protocol's timestamp unit."""

    precision: Literal["ns", "us", "u", "ms", "s"] = Field(
        "ns", description="the unit of line-protocol timestamps (text/plain bodies only)"
    )


class AgentAccepted(BaseModel):
    """Line protocol or remote write accepted: every point durably queued."""

    accepted: int = Field(ge=0, description="points queued")
    skipped: int = Field(
        ge=0, description="values not storable, skipped: strings, NaN and stale markers"
    )


class IngestAccepted(RootModel[Accepted | AgentAccepted]):
    """Every point durably queued (line protocol also counts the values it skipped)."""


class LatestValue(BaseModel):
    source: str
    value: float
    timestamp: datetime


class MetricInfo(BaseModel):
    name: str
    sources: list[str]
    latest_value: float
    latest_time: datetime
    series: list[LatestValue]


class MetricsAnswer(BaseModel):
    metrics: list[MetricInfo]


class StreamToken(BaseModel):
    token: str = Field(description="opens /ws?token= for the caller's tenant")
    expires_in: int = Field(description="seconds")


class DeadLetter(BaseModel):
    id: str
    entry_id: str
    reason: str
    deliveries: int
    points: int
    sample: list[Any]


class DeadLetterList(BaseModel):
    dead_letters: list[DeadLetter]


class Replayed(BaseModel):
    replayed: str


# -- data, export, updates ------------------------------------------------------------------


class DataParams(Query):
    """The query of /api/data (CONTRACT §3 Query)."""

    metric: list[Name] = Field(min_length=1, max_length=MAX_METRICS)
    source: list[Name] = Field(default_factory=list, max_length=MAX_SOURCES)
    start: str = Field("now-1h", description=TIME_TEXT)
    end: str = Field("now", description=TIME_TEXT)
    step: str = Field(
        "auto",
        description="auto (a series stays at or under 1,500 points), or 10s, 1m, 1h, 1d…",
        pattern=r"^(auto|\d{1,9}[smhdw])$",
    )
    agg: Agg = "avg"


class ExportParams(DataParams):
    """The query of /api/data, as a file."""

    format: Literal["csv", "xlsx"] = "csv"
    tz: str | None = Field(None, description="an IANA zone; else the user's, else UTC")


class Series(BaseModel):
    metric: str
    source: str
    step: str = Field(examples=["1m"])
    agg: Agg
    points: list[tuple[int, float | None]] = Field(description="[bucket start ms, value]")


class DataAnswer(BaseModel):
    series: list[Series]
    cursor: str | None = Field(description="the live cursor read before the query")


class UpdatesParams(Query):
    """A poll: points after `cursor` of the series `metric` × `source` (names, or patterns
    where * matches anything; at most MAX_PATTERNS of both together)."""

    cursor: Annotated[str, StringConstraints(pattern=f"^{CURSOR_RE.pattern}$")] | None = None
    metric: list[Pattern] = Field(min_length=1, max_length=MAX_PATTERNS)
    source: list[Pattern] = Field(default_factory=lambda: ["*"], max_length=MAX_PATTERNS)


class LivePoint(BaseModel):
    metric: str
    source: str
    ts: int = Field(description="epoch milliseconds")
    value: float


class Updates(BaseModel):
    cursor: str
    points: list[LivePoint]
    reset: bool = Field(False, description="the cursor is too old: reload from /api/data")


# -- pipeline --------------------------------------------------------------------------------


DEFAULT_MINUTES = 60
MAX_MINUTES = 1_440


class AccountingParams(Query):
    minutes: int = Field(DEFAULT_MINUTES, ge=1, le=MAX_MINUTES, description="the last minutes")


class MinuteBooks(BaseModel):
    minute: datetime
    accepted: int
    stored: int
    duplicates: int
    dead_lettered: int
    in_flight: int


class Totals(BaseModel):
    accepted: int
    stored: int
    duplicates: int
    dead_lettered: int
    in_flight: int


class StreamState(BaseModel):
    lag_s: float
    pending: int
    undelivered: int | None


class Reconcile(BaseModel):
    checked_at: datetime
    series_checked: int
    behind: int
    repaired: int
    unbalanced_minutes: int
    unbalanced: list[str]


class AccountingAnswer(BaseModel):
    tenant: str
    minutes: int
    as_of: datetime
    rows: list[MinuteBooks]
    totals: Totals
    stream: StreamState
    reconcile: Reconcile | None


class OpenApiDocument(BaseModel):
    """This document."""

    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


# -- forecasts (CONTRACT §9) ----------------------------------------------------------------


Num = float | None  # null where a figure is not finite


class BandParams(Query):
    """One series and the history to read at the step step=auto picks for it."""

    metric: Name
    source: Name | None = Field(None, description="required when the metric has several")
    history: str = Field("14d", description="1h to 92d", pattern=r"^\d{1,9}[smhdw]$")
    agg: Agg = "avg"


class ForecastParams(BandParams):
    """A forecast of one series: its horizon, at most 7d and a quarter of the history."""

    horizon: str = Field("6h", pattern=r"^\d{1,9}[smhdw]$")


class BaselineFigures(BaseModel):
    method: str
    mae: float | None
    mase: float | None
    coverage80: float | None
    coverage95: float | None


class Backtest(BaseModel):
    """Rolling-origin backtest: each origin fitted only on what came before it; coverages
    are the realised shares of the (conformally widened) 80 % and 95 % intervals."""

    origins: int
    horizon_steps: int
    mae: float | None
    mase: float | None = Field(description="MAE over the seasonal-naive in-sample MAE")
    coverage80: float | None
    coverage95: float | None
    baseline: BaselineFigures = Field(description="the seasonal-naive forecast's figures")


class ForecastAnswer(BaseModel):
    metric: str
    source: str
    step_ms: int
    method: str = Field(description="the model the backtest chose")
    points: list[
        tuple[int, float | None, float | None, float | None, float | None, float | None]
    ] = Field(description="[ts_ms, yhat, lo80, hi80, lo95, hi95]")
    backtest: Backtest


class BandAnswer(BaseModel):
    metric: str
    source: str
    step_ms: int
    method: str
    points: list[tuple[int, Num, Num, Num, Num, bool]] = Field(
        description="[ts_ms, value, yhat, lo95, hi95, outside]"
    )
