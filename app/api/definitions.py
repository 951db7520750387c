"""The /api models of alert rules, incidents, notifications and sources.

Bodies are the domain's models (RuleSpec, SourceSpec and its per-kind configs), extended
only where the API adds to them: a source is documented per kind (its `config` model
chosen by `kind`, a discriminated union built from the domain's CONFIGS table), a rule or
source as answered carries its id and state. The route-level limits are constants here,
read by the routes that enforce them (app/api/alerts.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model

from app.api.schemas import Query
from data.domain.rule_spec import RuleSpec
from data.domain.source_spec import CONFIGS, SourceSpec

PREVIEW_DAYS = 7
MAX_SILENCE_S = 366 * 86_400
MAX_OFFSET = 1_000_000
MAX_INCIDENTS = 500
MAX_NOTIFICATIONS = 200
Severity = Literal["info", "warning", "critical"]
IncidentState = Literal["firing", "resolved"]
TIME_TEXT = "RFC 3339, epoch seconds, or relative: now-15m, now-7d"


def optional(schema: dict[str, Any]) -> None:
    """A field that may be left out but, when sent, may not be null: no `default: null`."""
    schema.pop("default", None)


# -- rules -----------------------------------------------------------------------------


class RulePreview(RuleSpec):
    """A rule definition to replay over the last days (its name is optional here)."""

    days: int = Field(PREVIEW_DAYS, ge=1, le=PREVIEW_DAYS)


class Rule(RuleSpec):
    """A rule as answered: its definition (each kind's parameters, null when unset), its id,
    and `webhook_secret` for rule editors when it has a webhook channel."""

    model_config = ConfigDict(extra="ignore")

    id: str
    silenced_until: datetime | None
    created_at: datetime
    updated_at: datetime
    webhook_secret: str | None = Field(
        None, description="HMAC-SHA256 key of X-Pulse-Signature (analysts, admins)"
    )


class Rules(BaseModel):
    alerts: list[Rule]


class Silence(BaseModel):
    """`{"until": time}` (within the next year), `{"until": null}` to lift a silence, or
    `{"for_s": seconds}`."""

    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["until"]}, {"required": ["for_s"]}]}
    )

    until: str | float | None = Field(None, description=TIME_TEXT + ", or now+2h")
    for_s: float = Field(None, gt=0, le=MAX_SILENCE_S, json_schema_extra=optional)  # type: ignore[assignment]


class Firing(BaseModel):
    fired_at: datetime
    resolved_at: datetime | None
    value: float | None
    message: str


class PreviewSeries(BaseModel):
    source: str
    points: int
    firings: list[Firing]
    note: str | None = Field(
        None, description="forecast_band: why steps went unjudged (too little history)"
    )


class PreviewAnswer(BaseModel):
    from_: datetime = Field(alias="from")
    to: datetime
    step: str
    fired: int
    series: list[PreviewSeries]


# -- incidents and notifications --------------------------------------------------------


class Delivery(BaseModel):
    id: str
    state: IncidentState
    channel: Literal["webhook", "email"]
    target: str
    status: Literal["pending", "sending", "retrying", "sent", "failed"]
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    next_attempt_at: datetime | None


class Incident(BaseModel):
    id: str
    incident_key: str
    rule_id: str
    rule_name: str | None
    cause: Literal["value", "nodata", "source_down"]
    metric: str | None
    source: str
    state: IncidentState
    severity: Severity
    message: str
    value: float | None
    resolved_value: float | None
    started_at: datetime
    resolved_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    deliveries: list[Delivery]


class IncidentList(BaseModel):
    incidents: list[Incident]


class IncidentsParams(Query):
    rule_id: str | None = Field(None, description="only this rule's (an unknown id: none)")
    state: IncidentState | None = None
    limit: int = Field(50, ge=1, le=MAX_INCIDENTS)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class Notification(BaseModel):
    notification_id: str
    rule_id: str
    incident_id: str
    message: str
    severity: Severity
    state: IncidentState
    metric: str | None
    source: str
    value: float | None
    timestamp: datetime
    read: bool


class NotificationsParams(Query):
    unread: str | None = Field(None, description="1, true or yes: unread ones only")
    severity: Severity | None = Field(None, description="this level and above")
    since: str | None = Field(None, description=TIME_TEXT)
    until: str | None = Field(None, description=TIME_TEXT)
    limit: int = Field(50, ge=1, le=MAX_NOTIFICATIONS)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class Notifications(BaseModel):
    notifications: list[Notification]
    total: int
    unread: int


class NotificationRead(BaseModel):
    notification: Notification
    unread: int


class AllRead(BaseModel):
    marked: int
    unread: int


# -- sources ----------------------------------------------------------------------------


class SourceHealth(BaseModel):
    status: Literal["pending", "up", "failing", "down", "disabled"]
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str | None
    consecutive_failures: int


class SourceFacts(BaseModel):
    """What a source as answered adds to its definition; credentials in `config` are ***."""

    model_config = ConfigDict(extra="ignore")

    id: str
    timeout_s: float
    created_at: datetime
    health: SourceHealth
    state: dict[str, Any] = Field(description="what the poller carries from run to run")


def _title(kind: str) -> str:
    return "".join(part.title() for part in kind.split("_"))


def _per_kind(answered: bool) -> list[Any]:
    """One SourceSpec per kind with `config` typed by the domain's model of that kind."""
    variants = []
    for kind, config in CONFIGS.items():
        needs_config = any(field.is_required() for field in config.model_fields.values())
        fields: dict[str, Any] = {
            "kind": (Literal[kind], ...),
            "config": (config, ... if needs_config else Field(default_factory=config)),
        }
        name = f"{_title(kind)}Source"
        bases: Any = (SourceSpec,)
        if answered:
            name, bases = name + "Answered", (SourceSpec, SourceFacts)
        variants.append(create_model(name, __base__=bases, __doc__=config.__doc__, **fields))
    return variants


SourceConfig = Union[tuple(CONFIGS.values())]  # type: ignore[valid-type]  # noqa: UP007


class SourceDefinition(RootModel[Any]):
    """A source: `config` is the model of its `kind`."""

    root: Annotated[Union[tuple(_per_kind(False))], Field(discriminator="kind")]  # type: ignore[valid-type]  # noqa: UP007


class SourceChange(SourceSpec):
    """A change: the fields sent replace the stored ones; `config` is the whole config of
    the source's (new or current) kind, credentials shown as *** keep their stored value."""

    config: SourceConfig = Field(None, json_schema_extra=optional)  # type: ignore[valid-type]


class Source(RootModel[Any]):
    """A source as answered, with its health and state."""

    root: Annotated[Union[tuple(_per_kind(True))], Field(discriminator="kind")]  # type: ignore[valid-type]  # noqa: UP007


class Sources(BaseModel):
    sources: list[Source]
