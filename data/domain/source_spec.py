"""Source definitions: what an admin may send for each kind of source, checked with
pydantic, with the same per-field details whatever the kind.

No I/O here. An `sql` source's URL is read by SQLAlchemy's URL parser, which the caller
hands in (`SqlUrlCheck`): the store passes `sqlalchemy.engine.make_url`, so this module
imports no database library. Outbound targets are the store's to check (data/outbound.py
resolves names). The API documents these models as the bodies of /api/sources.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from data.domain.errors import Invalid
from data.domain.points import NAME_RE
from data.domain.validation import HTTP_URL_SCHEMA, Checked, field_problems, http_url, matching

# Parses an SQLAlchemy URL, raising ValueError (or a subclass) when it is not one.
SqlUrlCheck = Callable[[str], object]
SQL_URL_CHECK = "sql_url_check"  # its key in the validation context
MAX_TIMEOUT_S = 60.0  # a poll holds a worker thread this long at most
KINDS = ("prometheus", "http_json", "sql", "file_tail", "demo")

Name = Annotated[str, matching(NAME_RE.pattern, "must be 1-128 characters of A-Z a-z 0-9 _ . : -")]
LabelName = Annotated[str, matching(r"[A-Za-z_][A-Za-z0-9_]{0,127}", "must be a label name")]
Prefix = Annotated[
    str, matching(r"[A-Za-z0-9_.:\-]{0,64}", "must be 0-64 characters of A-Z a-z 0-9 _ . : -")
]
Glob = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Headers = dict[
    Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")],
    Annotated[str, StringConstraints(max_length=4000, pattern=r"^[^\r\n]*$")],
]
JsonPath = Annotated[
    str,
    matching(
        r"[^.\s]{1,200}(\.[^.\s]{1,200}){0,30}",
        "must be dotted keys and list indexes, e.g. data.items.0.cpu",
    ),
]


HttpUrlText = Annotated[
    str, StringConstraints(strip_whitespace=True), Checked(http_url, **HTTP_URL_SCHEMA)
]


# Strict: a JSON value of another type is refused, not converted ("enabled": 0 is not a
# boolean), so a definition is accepted exactly when its JSON schema says it is valid.
class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class PrometheusConfig(_Config):
    """Scrape of a Prometheus text exposition: counters become per-second rates."""

    url: HttpUrlText
    headers: Headers = {}
    include: list[Glob] = Field(default_factory=lambda: ["*"], min_length=1, max_length=100)
    exclude: list[Glob] = Field(default_factory=list, max_length=100)
    source_labels: list[LabelName] = Field(default_factory=list, max_length=10)
    source: Name | None = None
    separator: Literal[".", ":", "-", "_"] = "."
    prefix: Prefix = ""
    max_series: int = Field(2000, ge=1, le=20_000)


class JsonValue(_Config):
    """Where one value sits in the JSON document, and the series it becomes."""

    path: JsonPath
    metric: Name
    source: Name | None = None


class HttpJsonConfig(_Config):
    """Poll of a JSON document over HTTP; each configured path is one point."""

    url: HttpUrlText
    headers: Headers = {}
    values: list[JsonValue] = Field(min_length=1, max_length=1000)
    timestamp_path: JsonPath | None = None


class SqlConfig(_Config):
    """A query returning (timestamp, metric, source, value) rows after a high-water mark."""

    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    query: Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
    since_as: Literal["timestamp", "epoch"] = "timestamp"
    max_rows: int = Field(10_000, ge=1, le=100_000)

    @field_validator("url")
    @classmethod
    def _sqlalchemy_url(cls, value: str, info: ValidationInfo) -> str:
        check: SqlUrlCheck | None = (info.context or {}).get(SQL_URL_CHECK)
        if check is None:  # nobody can read the URL: refuse rather than store it unread
            raise ValueError("cannot be checked here (no SQL URL parser given)")
        try:
            check(value)
        except ValueError:
            raise ValueError("is not an SQLAlchemy URL (dialect+driver://…)") from None
        return value

    @field_validator("query")
    @classmethod
    def _uses_since(cls, value: str) -> str:
        if not re.search(r":since\b", value):
            raise ValueError("must use the bound parameter :since (the high-water mark)")
        return value


def _relative_path(value: str) -> str:
    parts = value.replace("\\", "/").split("/")
    if value.startswith(("/", "~")) or ".." in parts or "\x00" in value:
        raise ValueError("must be a path relative to the tenant's source folder, without ..")
    return value


class FileTailConfig(_Config):
    """A CSV (header timestamp,metric,source,value) or JSON-lines file another program appends."""

    path: Annotated[
        str, StringConstraints(min_length=1, max_length=1000), AfterValidator(_relative_path)
    ]
    format: Literal["csv", "jsonl"]
    start_at: Literal["beginning", "end"] = "beginning"
    max_bytes: int = Field(4 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)


class DemoConfig(_Config):
    """The demo generator; `seed` makes its noise repeatable."""

    seed: int | None = None


CONFIGS: dict[str, type[_Config]] = {
    "prometheus": PrometheusConfig,
    "http_json": HttpJsonConfig,
    "sql": SqlConfig,
    "file_tail": FileTailConfig,
    "demo": DemoConfig,
}


class SourceSpec(BaseModel):
    """What an admin sends to create or change a source (config checked per kind)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Name
    kind: Literal["prometheus", "http_json", "sql", "file_tail", "demo"]
    config: dict[str, Any] = Field(default_factory=dict)
    interval_s: float = Field(10.0, ge=0.2, le=86_400)
    timeout_s: float | None = Field(None, gt=0, le=MAX_TIMEOUT_S)
    enabled: bool = True


def parse_config(kind: str, config: Any, sql_url: SqlUrlCheck) -> _Config:
    """The typed config of a kind, or Invalid with `config.<field>` details."""
    model = CONFIGS.get(kind)
    if model is None:
        raise Invalid.field("kind", f"must be one of {', '.join(KINDS)}", "source")
    if not isinstance(config, dict):
        raise Invalid.field("config", "must be a JSON object", "source")
    try:
        return model.model_validate(config, context={SQL_URL_CHECK: sql_url})
    except ValidationError as exc:
        raise Invalid(field_problems(exc, "config"), "source") from None


def parse_spec(doc: Any, sql_url: SqlUrlCheck) -> tuple[SourceSpec, _Config]:
    """A whole source definition checked, its config included."""
    if not isinstance(doc, dict):
        raise Invalid.field("body", "must be a JSON object", "source")
    try:
        spec = SourceSpec.model_validate(doc)
    except ValidationError as exc:
        details = field_problems(exc)
        if "kind" in doc and not any(d["field"] == "kind" for d in details):
            try:
                parse_config(str(doc["kind"]), doc.get("config", {}), sql_url)
            except Invalid as bad_config:
                details += bad_config.details
        raise Invalid(details, "source") from None
    return spec, parse_config(spec.kind, spec.config, sql_url)
