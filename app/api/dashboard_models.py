"""The /api models of dashboards (CONTRACT.md §6) and embed tokens (§7).

What a client sends is the domain's (data/domain/dashboards.py DashboardSpec, Widget,
PersonalView; data/domain/embeds.py EmbedRequest): referenced or extended here, never
re-typed. A dashboard as read carries an envelope (id, version, owner, …) that a client
may send back as it got it: the bodies declare those fields, documented as ignored, so the
document accepts exactly what the routes accept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.api.definitions import optional
from data.domain.dashboard_documents import MAX_RENAMES, SCHEMA_VERSION
from data.domain.dashboards import (
    MAX_TITLE_CHARS,
    MAX_WIDGETS,
    DashboardSpec,
    Filters,
    PersonalView,
    TimeRange,
    Widget,
)

IGNORED = "what a dashboard as read carries: ignored when sent back"
Title = Annotated[str, Field(min_length=1, max_length=MAX_TITLE_CHARS)]


def _ignored() -> Any:
    return Field(None, description=IGNORED, json_schema_extra=optional)


class ReadEnvelope(BaseModel):
    """The fields a dashboard as read carries besides its document, accepted and ignored
    when a client sends the dashboard back as it got it."""

    id: Any = _ignored()
    version: Any = _ignored()
    owner: Any = _ignored()
    editable: Any = _ignored()
    created_at: Any = _ignored()
    updated_at: Any = _ignored()
    view: Any = _ignored()
    home: Any = _ignored()


class DashboardBody(ReadEnvelope, DashboardSpec):
    """A new dashboard. Sharing it with the tenant needs analyst or admin; on a grid of 12
    columns, each widget's x + w is at most 12, and every widget but `notifications`
    queries at least one metric."""


class DashboardSave(DashboardBody):
    """A dashboard's new document with the `version` it was loaded at (another one: 409).
    Without `shared` it keeps its sharing."""

    version: int = Field(description="the version the editor loaded")


class Dashboard(DashboardSpec):
    """A dashboard as the caller sees it: its document, id, version and owner's username,
    whether the caller may save it, and the caller's personal view of it (null: none)."""

    id: str
    version: int
    owner: str | None
    editable: bool
    view: PersonalView | None
    created_at: datetime
    updated_at: datetime


class DashboardLine(BaseModel):
    """One dashboard of the list."""

    id: str
    title: str
    owner: str | None = Field(description="the owner's username; null once they are gone")
    shared: bool
    updated_at: datetime


class Dashboards(BaseModel):
    """The caller's own dashboards and the tenant's shared ones, last saved first."""

    dashboards: list[DashboardLine]


class DashboardExport(BaseModel):
    """A dashboard as code: names only (no dashboard, user or tenant id), so it imports
    into any tenant."""

    schema_version: Literal[2]
    title: str
    time: TimeRange
    filters: Filters
    widgets: list[Widget]


class DashboardImport(ReadEnvelope):
    """An exported dashboard (any schema_version up to this Pulse's: older ones are
    migrated), imported as a new personal dashboard; `rename` maps its metric names to the
    importing tenant's (`{"old.name": "new.name"}`)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = Field(ge=1, le=SCHEMA_VERSION)
    title: Title
    time: TimeRange = Field(default_factory=TimeRange)
    filters: Filters = Field(default_factory=Filters)
    widgets: list[dict[str, Any]] = Field(
        default_factory=list,
        max_length=MAX_WIDGETS,
        description="widgets of the document's schema_version (1: a query's metric or"
        " source may be one name); checked as a dashboard's once migrated",
    )
    rename: dict[str, str] = Field(
        default_factory=dict,
        max_length=MAX_RENAMES,
        description="old metric name → new metric name",
        json_schema_extra=optional,
    )
    shared: Any = _ignored()  # an import comes in personal: sharing is the importer's call


# -- embed tokens -------------------------------------------------------------------------


class EmbedToken(BaseModel):
    """A new embed token: shown once; `url` opens the embed in an iframe."""

    token: str
    jti: str
    expires_at: datetime
    url: str


class EmbedResourceAnswer(BaseModel):
    type: Literal["dashboard", "widget"]
    dashboard_id: str
    widget_id: str | None = Field(None, json_schema_extra=optional)


class LockedFilters(BaseModel):
    source: list[str]


class LiveEmbedToken(BaseModel):
    """A live token, without the token itself."""

    jti: str
    resource: EmbedResourceAnswer
    filters: LockedFilters
    expires_at: datetime
    created_at: datetime
    created_by: str | None = Field(description="the id of the user who minted it (a key: null)")


class LiveEmbedTokens(BaseModel):
    """The tenant's unexpired, unrevoked tokens, newest first."""

    embed_tokens: list[LiveEmbedToken]
