"""Embed tokens (CONTRACT.md §7): what a request to mint one may ask for, the signed token
itself, and what an embed may read: its resource's own queries narrowed by the locked
source filter. Pure: no I/O.

A token is an itsdangerous-signed JSON document with the tenant, the resource, the locked
filters, `aud` ("embed"), `exp` (epoch seconds) and `jti`; its own salt keeps it from ever
passing for a stream token or a session cookie, and `aud` from passing for anything else
signed by the same secret. The signature proves what the token says; whether it was revoked
is the store's to tell (data/stores/embed_tokens.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from data.domain.dashboards import DashboardSpec, Widget
from data.domain.errors import Forbidden, Invalid, NotFound, Unreadable
from data.domain.patterns import PatternSet
from data.domain.validation import field_problems, matching

AUDIENCE = "embed"
SALT = "pulse.embed-token"
MIN_TTL_S = 60
MAX_TTL_S = 30 * 86_400
MAX_LOCKED_SOURCES = 20
SUBJECT = "embed_token"
_NAME = matching(r"[A-Za-z0-9_.:\-]{1,128}", "must be 1-128 characters of A-Z a-z 0-9 _ . : -")
_ID = matching(r"[A-Za-z0-9_\-]{1,64}", "must be 1-64 characters of A-Z a-z 0-9 _ -")
_STRICT = ConfigDict(extra="forbid", strict=True)


class ResourceBody(BaseModel):
    """`{"type": "dashboard|widget", "dashboard_id", "widget_id"}`."""

    model_config = _STRICT

    type: Literal["dashboard", "widget"]
    dashboard_id: Annotated[str, _ID]
    widget_id: Annotated[str, _ID] | None = None


class FiltersBody(BaseModel):
    """The locked filters: exact source names (a glob would lock nothing in particular)."""

    model_config = _STRICT

    source: list[Annotated[str, _NAME]] = Field(default_factory=list, max_length=20)


class EmbedRequest(BaseModel):
    """The body of `POST /api/embed-tokens`."""

    model_config = _STRICT

    resource: ResourceBody
    ttl_s: Annotated[int, Field(ge=MIN_TTL_S, le=MAX_TTL_S)] = 600
    filters: FiltersBody = Field(default_factory=FiltersBody)


@dataclass(frozen=True, slots=True)
class EmbedResource:
    """A dashboard, or one widget of it."""

    type: str
    dashboard_id: str
    widget_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "dashboard_id": self.dashboard_id}
        if self.widget_id is not None:
            out["widget_id"] = self.widget_id
        return out


@dataclass(frozen=True, slots=True)
class EmbedClaims:
    """What a genuine embed token says."""

    tenant_id: str
    resource: EmbedResource
    sources: tuple[str, ...]  # the locked source filter; empty: the resource's own
    expires_at: int  # epoch seconds
    jti: str


class EmbedTokenError(Exception):
    """A token that opens nothing: `reason` is `invalid`, `expired` or `revoked`."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"embed token {reason}")
        self.reason = reason


def parse_embed_request(doc: Any) -> tuple[EmbedResource, int, tuple[str, ...]]:
    """(resource, ttl_s, locked sources) of a request body; Invalid with one detail per
    bad field (code `invalid_embed_token`)."""
    if not isinstance(doc, dict):
        raise Unreadable("the body must be a JSON object")
    try:
        body = EmbedRequest.model_validate(doc)
    except ValidationError as exc:
        raise Invalid(field_problems(exc), SUBJECT) from None
    res = body.resource
    if (res.type == "widget") != (res.widget_id is not None):
        message = "a widget embed names its widget_id; a dashboard embed names none"
        raise Invalid.field("resource.widget_id", message, SUBJECT)
    sources = tuple(dict.fromkeys(body.filters.source))
    return EmbedResource(res.type, res.dashboard_id, res.widget_id), body.ttl_s, sources


def new_claims(
    tenant_id: str, resource: EmbedResource, sources: tuple[str, ...], ttl_s: int, now: float
) -> EmbedClaims:
    """The claims of a fresh token, valid `ttl_s` from `now`."""
    return EmbedClaims(tenant_id, resource, sources, int(now) + ttl_s, uuid.uuid4().hex)


class EmbedSigner:
    """Signs and reads embed tokens with the app's secret."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeSerializer(secret, salt=SALT)

    def sign(self, claims: EmbedClaims) -> str:
        """The token of these claims."""
        return str(
            self._serializer.dumps(
                {
                    "t": claims.tenant_id,
                    "r": claims.resource.as_dict(),
                    "f": {"source": list(claims.sources)},
                    "aud": AUDIENCE,
                    "exp": claims.expires_at,
                    "jti": claims.jti,
                }
            )
        )

    def read(self, token: str, now: float) -> EmbedClaims:
        """The claims of a genuine, unexpired token; EmbedTokenError otherwise."""
        try:
            doc = self._serializer.loads(token)
            claims = _claims_of(doc)
        except (BadSignature, KeyError, TypeError, ValueError):
            raise EmbedTokenError("invalid") from None
        if now >= claims.expires_at:
            raise EmbedTokenError("expired")
        return claims


def _claims_of(doc: Any) -> EmbedClaims:
    if doc.get("aud") != AUDIENCE:
        raise ValueError("not an embed token")
    res = doc["r"]
    resource = EmbedResource(str(res["type"]), str(res["dashboard_id"]), res.get("widget_id"))
    sources = tuple(str(s) for s in doc["f"]["source"])
    return EmbedClaims(str(doc["t"]), resource, sources, int(doc["exp"]), str(doc["jti"]))


# -- what an embed reads ------------------------------------------------------------------


def resource_widgets(spec: DashboardSpec, resource: EmbedResource) -> list[Widget]:
    """The widgets an embed shows: the dashboard's, or the one it names (NotFound when the
    dashboard no longer has it)."""
    if resource.widget_id is None:
        return list(spec.widgets)
    found = [w for w in spec.widgets if w.id == resource.widget_id]
    if not found:
        raise NotFound("widget")
    return found


@dataclass(frozen=True, slots=True)
class SeriesScope:
    """The series one widget of an embed may show: metric and source patterns (no source
    pattern: every source), within the locked sources when there are any."""

    metrics: tuple[str, ...]
    sources: tuple[str, ...]
    locked: tuple[str, ...]
    # compiled once: the gateway asks for every live point
    metric_set: PatternSet = field(init=False, repr=False, compare=False, hash=False)
    source_set: PatternSet = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "metric_set", PatternSet(self.metrics))
        object.__setattr__(self, "source_set", PatternSet(self.sources))

    def allows(self, metric: str, source: str) -> bool:
        """Whether this point's series is one the widget shows."""
        return self.metric_set.matches(metric) and source_allowed(self, source)


def widget_scope(
    widget: Widget, dashboard_sources: list[str], locked: tuple[str, ...]
) -> SeriesScope:
    """What one widget reads: its own sources, else the dashboard's filter, always within
    the token's locked sources."""
    sources = tuple(widget.query.source or dashboard_sources)
    return SeriesScope(tuple(widget.query.metric), sources, locked)


def embed_scopes(
    spec: DashboardSpec, resource: EmbedResource, locked: tuple[str, ...]
) -> list[tuple[Widget, SeriesScope]]:
    """Each widget of the resource with the series it may show."""
    return [
        (w, widget_scope(w, list(spec.filters.source), locked))
        for w in resource_widgets(spec, resource)
    ]


def series_in_scope(
    scope: SeriesScope, known: set[tuple[str, str]]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(metric names, source names) of the tenant's known series the scope allows, to ask
    /api/data's query for: patterns resolved, so the query names no series of its own."""
    pairs = [(m, s) for m, s in known if scope.allows(m, s)]
    return tuple(sorted({m for m, _ in pairs})), tuple(sorted({s for _, s in pairs}))


def check_narrowing(scopes: list[SeriesScope], metrics: list[str], sources: list[str]) -> None:
    """Forbidden unless every metric and source asked for is one the resource shows: a
    request may narrow an embed's answer, never widen it."""
    for metric in metrics:
        if not any(s.metric_set.matches(metric) for s in scopes):
            raise Forbidden(f"metric {metric[:128]!r} is not one this embed shows")
    for source in sources:
        if not any(source_allowed(s, source) for s in scopes):
            raise Forbidden(f"source {source[:128]!r} is not one this embed shows")


def source_allowed(scope: SeriesScope, source: str) -> bool:
    """Whether the scope shows this source (within its locked sources, if any)."""
    if scope.locked and source not in scope.locked:
        return False
    return not scope.sources or scope.source_set.matches(source)
