"""Alert rule definitions: what an analyst may send (checked with pydantic), what each kind
requires beyond the fields' own limits, and the RuleDef the state machine evaluates.

No I/O here: the store (data/stores/alert_rules.py) checks webhook targets against the
outbound policy and writes rules; the API documents RuleSpec as the body of its routes.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from data.domain.alert_rule import RuleDef
from data.domain.errors import Invalid
from data.domain.jsontext import storable
from data.domain.points import NAME_RE
from data.domain.validation import (
    WEBHOOK_URL_SCHEMA,
    Checked,
    field_problems,
    http_url_without_spaces,
    matching,
    schema_only,
)

BAND_DEFAULT_FOR_S = 1800.0  # forecast_band: four 10-minute steps outside in a row
KINDS = ("threshold", "rate", "spike", "nodata", "forecast_band")
SEVERITIES = ("info", "warning", "critical")
CHANNELS = ("in_app", "webhook", "email")
PARAMS = (
    "op",
    "threshold",
    "clear_threshold",
    "for_s",
    "change_pct",
    "direction",
    "zscore",
    "window_s",
    "source_down",
    "webhook_url",
    "email_to",
)
# Which parameters each kind shows and uses (webhook_url and email_to belong to channels).
KIND_PARAMS = {
    "threshold": ("op", "threshold", "clear_threshold", "for_s"),
    "rate": ("change_pct", "direction", "window_s", "clear_threshold", "for_s"),
    "spike": ("zscore", "window_s", "clear_threshold", "for_s"),
    "nodata": ("window_s", "source_down"),
    # clear_threshold in half-widths of the 95 % band (1 = its edge; unset: 0.8)
    "forecast_band": ("clear_threshold", "for_s"),
}
MAX_WEBHOOKS = 5
MAX_EMAILS = 20
EMAIL_RE = re.compile(r"[^@\s,;<>]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")


Name = Annotated[str, matching(NAME_RE, "must be 1-128 characters of A-Z a-z 0-9 _ . : -")]
SourceName = Annotated[
    str,
    matching(re.compile(r"\*|[A-Za-z0-9_.:\-]{1,128}"), "must be a source name or *"),
]
Url = Annotated[str, Checked(http_url_without_spaces, **WEBHOOK_URL_SCHEMA)]
Email = Annotated[str, matching(EMAIL_RE, "must be an e-mail address")]
Seconds = Annotated[float, Field(ge=0, le=7 * 86_400)]


Channel = Literal["in_app", "webhook", "email"]


def _in_app_only() -> list[Channel]:
    return ["in_app"]


class RuleSpec(BaseModel):
    """What an analyst sends to create or change a rule (CONTRACT.md §3)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: Annotated[str, Field(min_length=1, max_length=200)]
    metric: Name
    source: SourceName = "*"
    kind: Literal["threshold", "rate", "spike", "nodata", "forecast_band"]
    severity: Literal["info", "warning", "critical"] = "warning"
    cooldown_s: Seconds = 300
    channels: list[Channel] = Field(default_factory=_in_app_only, min_length=1, max_length=3)
    webhook_url: Url | Annotated[list[Url], schema_only(maxItems=MAX_WEBHOOKS)] | None = None
    email_to: Email | Annotated[list[Email], schema_only(maxItems=MAX_EMAILS)] | None = None
    enabled: bool = True
    op: Literal[">", "<"] = ">"
    threshold: float | None = None
    clear_threshold: float | None = None
    for_s: Seconds = 0
    change_pct: Annotated[float, Field(gt=0, le=1e6)] | None = None
    direction: Literal["up", "down", "both"] = "both"
    zscore: Annotated[float, Field(gt=0, le=1000)] | None = None
    window_s: Annotated[float, Field(ge=1, le=7 * 86_400)] | None = None
    source_down: bool = False


def as_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


# C901 allowed: one check per kind's parameter, each a plain if
def kind_problems(spec: RuleSpec) -> list[dict[str, str]]:  # noqa: C901
    """What pydantic cannot see field by field: what each kind and channel requires."""
    problems: list[dict[str, str]] = []

    def need(field: str, message: str) -> None:
        problems.append({"field": field, "message": message})

    if spec.kind == "threshold":
        if spec.threshold is None:
            need("threshold", "a threshold rule needs a threshold")
        elif spec.clear_threshold is not None:
            above = spec.op == ">"
            if (above and spec.clear_threshold > spec.threshold) or (
                not above and spec.clear_threshold < spec.threshold
            ):
                side = "at or below" if above else "at or above"
                need("clear_threshold", f"must be {side} the threshold (op {spec.op})")
    if spec.kind == "rate" and spec.change_pct is None:
        need("change_pct", "a rate rule needs change_pct (a % change over window_s)")
    if spec.kind == "spike" and spec.zscore is None:
        need("zscore", "a spike rule needs zscore (robust standard deviations)")
    if spec.kind in ("rate", "spike", "nodata") and spec.window_s is None:
        need("window_s", f"a {spec.kind} rule needs window_s")
    if spec.kind in ("rate", "spike") and spec.clear_threshold is not None:
        trigger = spec.change_pct if spec.kind == "rate" else spec.zscore
        if trigger is not None and spec.clear_threshold > trigger:
            need("clear_threshold", "must be at or below the trigger")
    band_clear = spec.clear_threshold if spec.kind == "forecast_band" else None
    if band_clear is not None and not 0 <= band_clear <= 1:
        need("clear_threshold", "in half-widths of the 95 % band: 0 to 1 (1 = its edge)")
    if spec.kind == "nodata" and spec.window_s is not None and spec.window_s < 2:
        need("window_s", "a nodata rule waits at least 2 s")
    if len(set(spec.channels)) != len(spec.channels):
        need("channels", "each channel at most once")
    urls, emails = as_list(spec.webhook_url), as_list(spec.email_to)
    if "webhook" in spec.channels and not urls:
        need("webhook_url", "the webhook channel needs webhook_url")
    if "email" in spec.channels and not emails:
        need("email_to", "the email channel needs email_to")
    if len(urls) > MAX_WEBHOOKS:
        need("webhook_url", f"at most {MAX_WEBHOOKS} URLs")
    if len(emails) > MAX_EMAILS:
        need("email_to", f"at most {MAX_EMAILS} addresses")
    return problems


def parse_rule(doc: Any) -> RuleSpec:
    """A checked rule definition, or Invalid (subject "rule") with one detail per field."""
    if not isinstance(doc, dict):
        raise Invalid.field("body", "must be a JSON object", "rule")
    unstorable = [
        {"field": str(key), "message": "must not contain NUL or unpaired surrogate characters"}
        for key, value in doc.items()
        if not (storable(key) and storable(value))
    ]
    if unstorable:  # PostgreSQL would refuse them on insert: a 500 instead of a 422
        raise Invalid(unstorable, "rule")
    try:
        spec = RuleSpec.model_validate(doc)
    except ValidationError as exc:
        raise Invalid(field_problems(exc), "rule") from None
    problems = kind_problems(spec)
    if problems:
        raise Invalid(problems, "rule")
    if spec.kind == "forecast_band" and doc.get("for_s") is None:
        # A 95 % band is left by chance one step in twenty: held for no time, it pages on noise.
        spec = spec.model_copy(update={"for_s": BAND_DEFAULT_FOR_S})
    return spec


def rule_def(
    rule_id: str,
    tenant_id: str,
    name: str,
    metric: str,
    source: str,
    kind: str,
    params: dict[str, Any],
    severity: str,
    cooldown_s: float,
    channels: list[str],
    enabled: bool = True,
    silenced_until: datetime | None = None,
) -> RuleDef:
    """A RuleDef from stored (or just validated) values."""
    p = params

    def num(key: str, default: float) -> float:
        value = p.get(key)
        return float(value) if value is not None else default

    return RuleDef(
        rule_id=rule_id,
        tenant_id=tenant_id,
        name=name,
        metric=metric,
        source=source,
        kind=kind,
        severity=severity,
        cooldown_s=float(cooldown_s),
        op=p.get("op") or ">",
        threshold=num("threshold", 0.0),
        clear_threshold=float(p["clear_threshold"])
        if p.get("clear_threshold") is not None
        else None,
        for_s=num("for_s", 0.0),
        change_pct=num("change_pct", 0.0),
        direction=p.get("direction") or "both",
        zscore=num("zscore", 3.0),
        window_s=num("window_s", 300.0),
        source_down=bool(p.get("source_down")),
        silenced_until_ms=int(silenced_until.timestamp() * 1000) if silenced_until else None,
        enabled=enabled,
        channels=tuple(channels),
        webhooks=tuple(as_list(p.get("webhook_url"))),
        emails=tuple(as_list(p.get("email_to"))),
    )


def spec_def(spec: RuleSpec, tenant_id: str = "", rule_id: str = "preview") -> RuleDef:
    """A RuleDef of a checked definition that is not stored (the preview's)."""
    return rule_def(
        rule_id,
        tenant_id,
        spec.name,
        spec.metric,
        spec.source,
        spec.kind,
        spec_params(spec),
        spec.severity,
        spec.cooldown_s,
        list(spec.channels),
    )


def spec_params(spec: RuleSpec) -> dict[str, Any]:
    kept = set(KIND_PARAMS[spec.kind])
    if "webhook" in spec.channels:
        kept.add("webhook_url")
    if "email" in spec.channels:
        kept.add("email_to")
    doc = spec.model_dump()
    params = {k: doc[k] for k in PARAMS if k in kept}
    if spec.kind in ("rate", "spike", "forecast_band") and params.get("clear_threshold") is None:
        params.pop("clear_threshold", None)
    return params
