"""Replaying a rule over history (the rule editor's preview): the incidents it would have
opened and closed over one series, judged by the same state machine as live points."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from data.domain.alert_rule import RuleDef, SeriesState, Transition
from data.domain.alert_state_machine import check_silence, observe


@dataclass(frozen=True, slots=True)
class Firing:
    """One incident a replay found: when it fired and resolved (None: still firing)."""

    fired_ms: int
    resolved_ms: int | None
    value: float | None
    message: str


class Collector:
    """Pairs a replay's transitions into the incidents it would have opened."""

    def __init__(self) -> None:
        self.firings: list[Firing] = []
        self.open_one: Transition | None = None

    def take(self, transition: Transition | None) -> None:
        """Note a transition (None: nothing happened)."""
        if transition is None:
            return
        if transition.state == "firing":
            self.open_one = transition
            return
        if self.open_one is not None:
            first = self.open_one
            self.firings.append(Firing(first.at_ms, transition.at_ms, first.value, first.message))
            self.open_one = None

    def done(self) -> list[Firing]:
        """The incidents, the last one still firing if it never resolved."""
        if self.open_one is not None:
            first = self.open_one
            self.firings.append(Firing(first.at_ms, None, first.value, first.message))
            self.open_one = None
        return self.firings


def replay(
    rule: RuleDef, source: str, points: list[tuple[int, float]], until_ms: int
) -> list[Firing]:
    """The incidents a rule would have opened over one series' history (nodata: gaps)."""
    # A replay judges history as it was: silence is ignored, event time is the clock.
    rule_now = dataclasses.replace(rule, silenced_until_ms=None)
    state = SeriesState()
    found = Collector()
    ordered = sorted(points)
    if rule.kind == "nodata":
        step_ms = int(rule.window_s * 1000)
        for (ts, _), (next_ts, _) in zip(ordered, [*ordered[1:], (until_ms, 0.0)], strict=True):
            if next_ts - ts > step_ms:  # silent long enough somewhere in this gap
                found.take(check_silence(rule_now, state, source, ts, ts + step_ms + 1))
                if next_ts < until_ms:
                    found.take(check_silence(rule_now, state, source, next_ts, next_ts))
    else:
        for ts, value in ordered:
            found.take(observe(rule_now, state, source, ts, value, ts))
    return found.done()
