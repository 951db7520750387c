"""The alert rule state machine: pure functions over one (rule, series), no I/O, no clock.

Every series a rule watches moves ok → pending → firing → (resolved) ok:

- *value* rules (threshold, rate, spike) judge each new point by a *measure*: the value
  (threshold), the % change over `window_s` (rate) or the robust z-score against the series'
  own rolling baseline (spike). A measure above the trigger makes the series pending; held
  for `for_s` (event time) it fires. A firing series resolves only once the measure falls to
  the separate clear level (hysteresis), so a value hovering at the trigger fires once.
- *nodata* rules are judged by the caller's clock against the newest point's time.
- *forecast_band* rules measure a step average's distance from its forecast in half-widths
  of the 95 % band (data/domain/band_rule.py) and go through the same `judge_level`.
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

from collections.abc import Callable, Iterable
from typing import Any

from data.domain.alert_measures import add_sample, measure
from data.domain.alert_rule import (
    FIRING,
    OK,
    PENDING,
    RuleDef,
    SeriesState,
    Transition,
    incident_key,
)


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _describe(rule: RuleDef, value: float, level: float | None) -> str:
    if rule.kind == "threshold":
        return f"{rule.metric} {_fmt(value)} {rule.op} {_fmt(rule.threshold)}"
    if rule.kind == "rate":
        return (
            f"{rule.metric} {_fmt(value)} changed {_fmt(level or 0)}% "
            f"over {_fmt(rule.window_s)}s (limit {_fmt(rule.change_pct)}%)"
        )
    return f"{rule.metric} {_fmt(value)} is {_fmt(level or 0)}σ from its median"


def observe(
    rule: RuleDef, state: SeriesState, source: str, ts: int, value: float, now_ms: int
) -> Transition | None:
    """Judge one point of a value rule's series; mutate `state`, return any transition."""
    if state.last_ts is not None and ts < state.last_ts:
        if rule.kind != "threshold":
            add_sample(rule, state, ts, value)  # late: it belongs in the window, no more
        return None
    state.last_ts = ts
    level = measure(rule, state, ts, value)
    if rule.kind != "threshold":
        add_sample(rule, state, ts, value)
    if level is None:
        return None  # too little history to judge: the state stands
    shown = level if rule.kind != "threshold" else None
    return judge_level(
        rule, state, source, ts, value, level, now_ms, lambda: _describe(rule, value, shown)
    )


def judge_level(
    rule: RuleDef,
    state: SeriesState,
    source: str,
    ts: int,
    value: float,
    level: float,
    now_ms: int,
    what: Callable[[], str],
) -> Transition | None:
    """Move a series by its rule's measure of the point at `ts` (`what` describes a firing):
    pending above the trigger, firing once held for `for_s` (outside cooldown and silence),
    resolved only at the clear level."""
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
    return _fire(rule, state, "value", source, ts, value, what())


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
