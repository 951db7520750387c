"""What the alert state machine works on: a rule as evaluation sees it, where one of its
series stands between batches, and the transition it reports when a series fires or
resolves. Values only: the decisions are in data/domain/alert_state_machine.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OK, PENDING, FIRING = "ok", "pending", "firing"
# forecast_band measures the distance from the forecast in half-widths of the 95 % band on
# the value's side: beyond 1 is outside the band; back to 0.8 (well inside) resolves, so a
# series grazing the edge fires once.
BAND_EDGE, BAND_CLEAR = 1.0, 0.8


@dataclass(frozen=True, slots=True)
class RuleDef:
    """What evaluation needs of a rule (built from its row by data/stores/alert_rules.py)."""

    rule_id: str
    tenant_id: str
    name: str
    metric: str
    source: str  # a source name, or "*"
    kind: str  # threshold | rate | spike | nodata | forecast_band
    severity: str = "warning"
    cooldown_s: float = 300.0
    op: str = ">"
    threshold: float = 0.0
    clear_threshold: float | None = None
    for_s: float = 0.0
    change_pct: float = 0.0
    direction: str = "both"  # rate: up | down | both
    zscore: float = 3.0
    window_s: float = 300.0
    source_down: bool = False  # nodata: also fire on the pipeline's source.down events
    silenced_until_ms: int | None = None
    enabled: bool = True
    channels: tuple[str, ...] = ("in_app",)
    webhooks: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()

    @property
    def targets(self) -> list[tuple[str, str]]:
        """The outbound (channel, target) pairs of an incident state."""
        out = [("webhook", url) for url in self.webhooks] if "webhook" in self.channels else []
        if "email" in self.channels:
            out += [("email", address) for address in self.emails]
        return out

    def watches(self, metric: str, source: str) -> bool:
        """Whether this rule judges the series (metric, source)."""
        return metric == self.metric and self.source in ("*", source)

    def silenced(self, now_ms: int) -> bool:
        return self.silenced_until_ms is not None and now_ms < self.silenced_until_ms

    @property
    def trigger(self) -> float:
        """The level the measure must exceed (the measure is sign-flipped for op '<')."""
        if self.kind == "threshold":
            return -self.threshold if self.op == "<" else self.threshold
        if self.kind == "forecast_band":
            return BAND_EDGE
        return self.change_pct if self.kind == "rate" else self.zscore

    @property
    def clear_level(self) -> float:
        """The level the measure must fall to (or below) for a firing series to resolve."""
        if self.clear_threshold is None:
            return BAND_CLEAR if self.kind == "forecast_band" else self.trigger
        if self.kind == "threshold" and self.op == "<":
            return -self.clear_threshold
        return self.clear_threshold


@dataclass(slots=True)
class SeriesState:
    """Where one (rule, series) stands; saved between batches by app/worker/alert_evaluator."""

    status: str = OK
    since_ms: int | None = None  # pending/firing: when the breach began (event time)
    last_ts: int | None = None  # the newest point judged
    incident_key: str | None = None
    quiet_until_ms: int = 0  # cooldown: nothing fires on points before this
    window: list[tuple[int, float]] = field(default_factory=list)  # rate/spike samples
    note: str | None = None  # forecast_band: why the series is not judged yet

    def to_doc(self) -> dict[str, Any]:
        doc = {
            "s": self.status,
            "f": self.since_ms,
            "l": self.last_ts,
            "k": self.incident_key,
            "q": self.quiet_until_ms,
            "w": self.window,
        }
        if self.note is not None:  # forecast_band only: the value kinds' states stay as small
            doc["n"] = self.note
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> SeriesState:
        return cls(
            doc.get("s", OK),
            doc.get("f"),
            doc.get("l"),
            doc.get("k"),
            int(doc.get("q") or 0),
            [(int(ts), float(v)) for ts, v in doc.get("w") or []],
            doc.get("n"),
        )


@dataclass(frozen=True, slots=True)
class Transition:
    """A series fired or resolved: what the engine records and notifies."""

    state: str  # "firing" | "resolved"
    incident_key: str
    cause: str  # value | nodata | source_down
    metric: str
    source: str
    at_ms: int  # event time of the point (or clock time) that decided it
    value: float | None
    message: str


def incident_key(rule: RuleDef, cause: str, metric: str, source: str, began: Any) -> str:
    """The unique key of an incident: the same breach always gets the same key."""
    return f"{rule.rule_id}|{cause}|{metric}|{source}|{began}"
