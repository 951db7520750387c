"""The alert rule state machine: pure functions over one (rule, series), no I/O, no clock.

Every series a rule watches moves ok → pending → firing → (resolved) ok:

- *value* rules (threshold, rate, spike) judge each new point by a *measure*: the value
  (threshold), the % change over `window_s` (rate) or the robust z-score against the series'
  own rolling baseline (spike). A measure above the trigger makes the series pending; held
  for `for_s` (event time) it fires. A firing series resolves only once the measure falls to
  the separate clear level (hysteresis), so a value hovering at the trigger fires once.
- *nodata* rules are judged by the caller's clock against the newest point's time.
- Cooldown: after a resolution, the same (rule, series) cannot fire again for `cooldown_s`
  (event time); a breach meanwhile stays pending and fires when the cooldown ends if it
  still holds. Silence: while a rule is silenced (wall clock) nothing new fires; a firing
  incident still resolves (its firing was notified, its recovery is too).
- Late points (older than the newest point the series has seen) never move the state
  backwards: they only join the rate/spike window they belong to. A point as old as the
  newest is judged (two points may share a time); judging the same point twice leaves the
  state as it was, so a redelivered batch changes nothing. The incident key is built from the
  rule, the series and the time the breach began, so replaying the same points after a
  restart yields the same key and PostgreSQL's unique index refuses a second incident.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

OK, PENDING, FIRING = "ok", "pending", "firing"
MIN_BASELINE = 30  # samples a spike rule needs: fewer make σ too uncertain (false alarms)
MAX_SAMPLES = 120  # samples kept per window: older ones are thinned to one per slot
KEPT_DEVIATIONS = 0.8  # σ comes from the smallest 80 % of deviations from the median
TRIMMED_SCALE = 1.7872  # their mean × this estimates σ for normal data


@dataclass(frozen=True, slots=True)
class RuleDef:
    """What evaluation needs of a rule (built from its row by data/stores/alert_rules.py)."""

    rule_id: str
    tenant_id: str
    name: str
    metric: str
    source: str  # a source name, or "*"
    kind: str  # threshold | rate | spike | nodata
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
        return self.change_pct if self.kind == "rate" else self.zscore

    @property
    def clear_level(self) -> float:
        """The level the measure must fall to (or below) for a firing series to resolve."""
        if self.clear_threshold is None:
            return self.trigger
        if self.kind == "threshold" and self.op == "<":
            return -self.clear_threshold
        return self.clear_threshold


@dataclass(slots=True)
class SeriesState:
    """Where one (rule, series) stands; saved between batches (see data/alert_engine.py)."""

    status: str = OK
    since_ms: int | None = None  # pending/firing: when the breach began (event time)
    last_ts: int | None = None  # the newest point judged
    incident_key: str | None = None
    quiet_until_ms: int = 0  # cooldown: nothing fires on points before this
    window: list[tuple[int, float]] = field(default_factory=list)  # rate/spike samples

    def to_doc(self) -> dict[str, Any]:
        return {
            "s": self.status,
            "f": self.since_ms,
            "l": self.last_ts,
            "k": self.incident_key,
            "q": self.quiet_until_ms,
            "w": self.window,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> SeriesState:
        return cls(
            doc.get("s", OK),
            doc.get("f"),
            doc.get("l"),
            doc.get("k"),
            int(doc.get("q") or 0),
            [(int(ts), float(v)) for ts, v in doc.get("w") or []],
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


def _fmt(value: float) -> str:
    return f"{value:.6g}"


# -- value rules -----------------------------------------------------------------------


def _add_sample(rule: RuleDef, state: SeriesState, ts: int, value: float) -> None:
    """Put (ts, value) into the window in time order, thinned to MAX_SAMPLES slots."""
    window = state.window
    slot_ms = max(1, int(rule.window_s * 1000 / MAX_SAMPLES))
    index = len(window)
    while index and window[index - 1][0] > ts:
        index -= 1
    if index and window[index - 1][0] // slot_ms == ts // slot_ms:
        window[index - 1] = (ts, value)  # the newest sample of a slot stands for it
    else:
        window.insert(index, (ts, value))
    newest = window[-1][0]
    horizon = newest - int(rule.window_s * 1000)
    drop = 0
    while drop < len(window) - 1 and window[drop][0] < horizon:
        drop += 1
    if drop:
        del window[:drop]


def robust_z(baseline: list[float], value: float) -> float | None:
    """|value − median| in robust standard deviations of the baseline.

    The centre is the median and the spread the mean of the smallest 80 % of absolute
    deviations from it (scaled to σ): up to a fifth of the baseline may be outliers without
    moving either much, so one outlier does not mask the next, and the estimate is steadier
    than the MAD's on the few dozen samples a window holds (fewer false alarms)."""
    if len(baseline) < MIN_BASELINE:
        return None
    ordered = sorted(baseline)
    median = _median(ordered)
    deviations = sorted(abs(v - median) for v in ordered)
    kept = deviations[: max(1, int(len(deviations) * KEPT_DEVIATIONS))]
    sigma = TRIMMED_SCALE * sum(kept) / len(kept)
    distance = abs(value - median)
    if sigma == 0:
        return 0.0 if distance == 0 else math.inf
    return distance / sigma


def _median(ordered: list[float]) -> float:
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def measure(rule: RuleDef, state: SeriesState, ts: int, value: float) -> float | None:
    """The rule's measure of a new point against the window before it; None when the
    window is too thin to judge."""
    if rule.kind == "threshold":
        return -value if rule.op == "<" else value
    horizon = ts - int(rule.window_s * 1000)
    if rule.kind == "spike":
        return robust_z([v for t, v in state.window if horizon <= t < ts], value)
    # rate: against the oldest sample still inside the window
    reference = next((v for t, v in state.window if horizon <= t < ts), None)
    if reference is None or reference == 0:
        return None
    change = (value - reference) / abs(reference) * 100
    if rule.direction == "up":
        return change
    if rule.direction == "down":
        return -change
    return abs(change)


def _describe(rule: RuleDef, value: float, level: float | None) -> str:
    if rule.kind == "threshold":
        return f"{rule.metric} {_fmt(value)} {rule.op} {_fmt(rule.threshold)}"
    if rule.kind == "rate":
        return (
            f"{rule.metric} {_fmt(value)} changed {_fmt(level or 0)}% "
            f"over {_fmt(rule.window_s)}s (limit {_fmt(rule.change_pct)}%)"
        )
    return f"{rule.metric} {_fmt(value)} is {_fmt(level or 0)}σ from its median"


# C901 allowed: the state machine's transitions, one branch each, read as a table
def observe(  # noqa: C901
    rule: RuleDef, state: SeriesState, source: str, ts: int, value: float, now_ms: int
) -> Transition | None:
    """Judge one point of a value rule's series; mutate `state`, return any transition."""
    if state.last_ts is not None and ts < state.last_ts:
        if rule.kind != "threshold":
            _add_sample(rule, state, ts, value)  # late: it belongs in the window, no more
        return None
    state.last_ts = ts
    level = measure(rule, state, ts, value)
    if rule.kind != "threshold":
        _add_sample(rule, state, ts, value)
    if level is None:
        return None  # too little history to judge: the state stands
    if state.status == FIRING:
        if level > rule.clear_level:
            return None
        return _resolve(rule, state, "value", source, ts, value, now_ms)
    if level <= rule.trigger:
        state.status, state.since_ms = OK, None
        return None
    if state.status == OK:
        state.status, state.since_ms = PENDING, ts
    assert state.since_ms is not None
    if ts - state.since_ms < rule.for_s * 1000 or ts < state.quiet_until_ms:
        return None
    if rule.silenced(now_ms):
        return None
    shown = level if rule.kind != "threshold" else None
    return _fire(rule, state, "value", source, ts, value, _describe(rule, value, shown))


def _fire(
    rule: RuleDef,
    state: SeriesState,
    cause: str,
    source: str,
    at_ms: int,
    value: float | None,
    what: str,
    began: Any = None,
) -> Transition:
    began = state.since_ms if began is None else began
    key = incident_key(rule, cause, rule.metric, source, began)
    state.status, state.incident_key = FIRING, key
    message = f"{rule.name}: {what} on {source}"
    return Transition("firing", key, cause, rule.metric, source, at_ms, value, message)


def _resolve(
    rule: RuleDef,
    state: SeriesState,
    cause: str,
    source: str,
    at_ms: int,
    value: float | None,
    now_ms: int,
) -> Transition:
    key = state.incident_key or incident_key(rule, cause, rule.metric, source, state.since_ms)
    state.status, state.since_ms, state.incident_key = OK, None, None
    base = at_ms if cause == "value" else now_ms
    state.quiet_until_ms = base + int(rule.cooldown_s * 1000)
    shown = f" {rule.metric} {_fmt(value)}" if value is not None else ""
    message = f"{rule.name} resolved:{shown} on {source}"
    return Transition("resolved", key, cause, rule.metric, source, at_ms, value, message)


def observe_series(
    rule: RuleDef,
    state: SeriesState,
    source: str,
    points: Iterable[tuple[int, float]],
    now_ms: int,
) -> list[Transition]:
    """Judge a run of a series' points (any order: they are judged in time order)."""
    if rule.kind == "threshold" and _nothing_changes(rule, state, points):
        return []
    out = []
    for ts, value in sorted(points, key=lambda p: p[0]):  # stable: equal times keep their order
        transition = observe(rule, state, source, ts, value, now_ms)
        if transition is not None:
            out.append(transition)
    return out


def _nothing_changes(
    rule: RuleDef, state: SeriesState, points: Iterable[tuple[int, float]]
) -> bool:
    """The common case, decided without a step per point: an ok series none of whose new
    points breaches, or a firing one none of whose new points clears. Only the newest time
    moves (late points would be skipped anyway)."""
    if state.status == PENDING:
        return False
    last = state.last_ts if state.last_ts is not None else -1
    fresh = [v for ts, v in points if ts >= last]
    if not fresh:
        return True
    low, high = min(fresh), max(fresh)
    if rule.op == "<":  # the measure is -value
        low, high = -high, -low
    if state.status == OK and high > rule.trigger:
        return False
    if state.status == FIRING and low <= rule.clear_level:
        return False
    state.last_ts = max(last, max(ts for ts, _ in points))
    return True


# -- nodata and source.down ------------------------------------------------------------


def check_silence(
    rule: RuleDef, state: SeriesState, source: str, newest_ts: int, now_ms: int
) -> Transition | None:
    """Judge a nodata rule's series whose newest point is at `newest_ts`, at `now_ms`."""
    silent = now_ms - newest_ts > rule.window_s * 1000
    if state.status == FIRING:
        if silent:
            return None
        return _resolve(rule, state, "nodata", source, newest_ts, None, now_ms)
    if not silent or now_ms < state.quiet_until_ms or rule.silenced(now_ms):
        return None
    state.since_ms = newest_ts
    what = f"no data from {rule.metric} for {_fmt(rule.window_s)}s"
    return _fire(rule, state, "nodata", source, now_ms, None, what)


def source_event(
    rule: RuleDef,
    state: SeriesState,
    event_type: str,
    name: str,
    event_id: str,
    error: str,
    now_ms: int,
) -> Transition | None:
    """Judge a source.down / source.up event of the pipeline for a nodata rule."""
    if event_type == "source.up":
        if state.status != FIRING:
            return None
        return _resolve(rule, state, "source_down", name, now_ms, None, now_ms)
    if state.status == FIRING or now_ms < state.quiet_until_ms or rule.silenced(now_ms):
        return None
    what = f"source {name} is down" + (f" ({error[:200]})" if error else "")
    return _fire(rule, state, "source_down", name, now_ms, None, what, began=event_id)


# -- preview ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Firing:
    """One incident a replay found: when it fired and resolved (None: still firing)."""

    fired_ms: int
    resolved_ms: int | None
    value: float | None
    message: str


# C901 allowed: the same state machine replayed over history
def replay(  # noqa: C901
    rule: RuleDef, source: str, points: list[tuple[int, float]], until_ms: int
) -> list[Firing]:
    """The incidents a rule would have opened over one series' history (nodata: gaps)."""
    # A replay judges history as it was: silence is ignored, event time is the clock.
    rule_now = dataclasses.replace(rule, silenced_until_ms=None)
    state = SeriesState()
    firings: list[Firing] = []
    open_one: Transition | None = None

    def take(transition: Transition | None) -> None:
        nonlocal open_one
        if transition is None:
            return
        if transition.state == "firing":
            open_one = transition
            return
        if open_one is not None:
            firings.append(
                Firing(open_one.at_ms, transition.at_ms, open_one.value, open_one.message)
            )
            open_one = None

    ordered = sorted(points)
    if rule.kind == "nodata":
        step_ms = int(rule.window_s * 1000)
        for (ts, _), (next_ts, _) in zip(ordered, [*ordered[1:], (until_ms, 0.0)], strict=True):
            if next_ts - ts > step_ms:  # silent long enough somewhere in this gap
                take(check_silence(rule_now, state, source, ts, ts + step_ms + 1))
                if next_ts < until_ms:
                    take(check_silence(rule_now, state, source, next_ts, next_ts))
    else:
        for ts, value in ordered:
            take(observe(rule_now, state, source, ts, value, ts))
    if open_one is not None:
        firings.append(Firing(open_one.at_ms, None, open_one.value, open_one.message))
    return firings
