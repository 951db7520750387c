"""The rule state machine (data/domain/alert_state_machine.py) with an injected clock:
every kind, hysteresis, cooldown, silence, recovery and late points."""

from __future__ import annotations

import dataclasses
import random

import pytest

from data.domain.alert_measures import robust_z
from data.domain.alert_replay import replay
from data.domain.alert_rule import FIRING, OK, PENDING, RuleDef, SeriesState, Transition
from data.domain.alert_state_machine import check_silence, observe, observe_series, source_event

T0 = 1_800_000_000_000  # event time origin, ms
S = 1000


def rule(**kw: object) -> RuleDef:
    base: dict[str, object] = {
        "rule_id": "r1",
        "tenant_id": "t",
        "name": "CPU hot",
        "metric": "cpu.usage",
        "source": "*",
        "kind": "threshold",
        "threshold": 80.0,
        "cooldown_s": 0.0,
    }
    base.update(kw)
    return RuleDef(**base)  # type: ignore[arg-type]


def feed(
    r: RuleDef,
    state: SeriesState,
    values: list[float],
    start: int = T0,
    step: int = S,
    now: int | None = None,
) -> list[Transition]:
    points = [(start + i * step, v) for i, v in enumerate(values)]
    return observe_series(r, state, "web-1", points, now if now is not None else start)


def states(transitions: list[Transition]) -> list[str]:
    return [t.state for t in transitions]


def test_threshold_fires_once_and_resolves_once_with_the_contract_message() -> None:
    state = SeriesState()
    out = feed(rule(), state, [50, 91.2, 95, 99, 70])
    assert states(out) == ["firing", "resolved"]
    assert out[0].message == "CPU hot: cpu.usage 91.2 > 80 on web-1"
    assert out[0].value == 91.2 and out[0].at_ms == T0 + S
    assert out[1].incident_key == out[0].incident_key
    assert state.status == OK


def test_threshold_below() -> None:
    out = feed(rule(op="<", threshold=10.0), SeriesState(), [20, 5, 4, 11])
    assert states(out) == ["firing", "resolved"]
    assert "5 < 10" in out[0].message


def test_hysteresis_keeps_firing_until_the_clear_threshold() -> None:
    r = rule(clear_threshold=75.0)
    state = SeriesState()
    out = feed(r, state, [85, 79, 81, 76, 79.9, 75, 90])
    # 79 and 76 are below the trigger but above the clear level: still firing
    assert states(out) == ["firing", "resolved", "firing"]
    assert out[1].at_ms == T0 + 5 * S
    below = rule(op="<", threshold=10.0, clear_threshold=15.0)
    assert states(feed(below, SeriesState(), [5, 12, 14, 15, 4])) == [
        "firing",
        "resolved",
        "firing",
    ]


def test_for_s_needs_the_breach_held_and_a_dip_restarts_it() -> None:
    r = rule(for_s=3.0)
    state = SeriesState()
    assert feed(r, state, [90, 90, 90]) == []  # held 2 s
    assert state.status == PENDING and state.since_ms == T0
    assert feed(r, state, [50], start=T0 + 3 * S) == []  # a dip: back to ok
    assert state.status == OK
    out = feed(r, state, [90, 90, 90, 90], start=T0 + 4 * S)
    assert states(out) == ["firing"]
    assert out[0].at_ms == T0 + 7 * S  # held for 3 s from T0 + 4 s
    assert out[0].incident_key.endswith(f"|{T0 + 4 * S}")


def test_cooldown_holds_a_new_incident_back_and_fires_if_the_breach_outlasts_it() -> None:
    r = rule(cooldown_s=10.0)
    state = SeriesState()
    out = feed(r, state, [90, 50, 90, 90, 50, 90])  # flapping inside the cooldown
    assert states(out) == ["firing", "resolved"]
    assert state.quiet_until_ms == T0 + S + 10 * S
    later = feed(r, state, [90, 90], start=T0 + 10 * S)
    assert states(later) == ["firing"]
    assert later[0].at_ms == T0 + 11 * S  # the first point at or after the cooldown's end


def test_silence_holds_firing_and_the_breach_fires_when_it_ends() -> None:
    silenced = rule(silenced_until_ms=T0 + 60 * S)
    state = SeriesState()
    assert feed(silenced, state, [90, 95], now=T0) == []
    assert state.status == PENDING
    out = feed(silenced, state, [96], start=T0 + 2 * S, now=T0 + 61 * S)  # silence over
    assert states(out) == ["firing"]
    assert out[0].incident_key.endswith(f"|{T0}")  # the breach began before the silence ended


def test_silence_does_not_hide_a_recovery() -> None:
    r = rule()
    state = SeriesState()
    feed(r, state, [90])
    silenced = dataclasses.replace(r, silenced_until_ms=T0 + 3600 * S)
    assert states(feed(silenced, state, [10], start=T0 + S)) == ["resolved"]


def test_late_and_repeated_points_never_move_the_state_back() -> None:
    r = rule()
    state = SeriesState()
    assert states(feed(r, state, [90], start=T0 + 10 * S)) == ["firing"]
    # a late clearing point (older than the newest) and a replay of the same batch
    assert feed(r, state, [10], start=T0 + 5 * S) == []
    assert feed(r, state, [90], start=T0 + 10 * S) == []
    assert state.status == FIRING
    # out of order within one batch: judged in time order
    state2 = SeriesState()
    out = observe_series(r, state2, "w", [(T0 + 2 * S, 10.0), (T0, 90.0), (T0 + S, 95.0)], T0)
    assert states(out) == ["firing", "resolved"]


def test_replaying_from_the_same_state_gives_the_same_incident_key() -> None:
    r = rule(for_s=1.0)
    before = SeriesState()
    feed(r, before, [10])
    saved = before.to_doc()
    first = feed(r, SeriesState.from_doc(saved), [90, 91, 92], start=T0 + S)
    again = feed(r, SeriesState.from_doc(saved), [90, 91, 92], start=T0 + S)
    assert [t.incident_key for t in first] == [t.incident_key for t in again]
    assert len(first) == 1


def test_rate_fires_on_a_jump_over_the_window_and_clears() -> None:
    r = rule(kind="rate", change_pct=50.0, window_s=10.0, clear_threshold=20.0)
    state = SeriesState()
    values = [100.0] * 10 + [160.0, 170.0, 170.0] + [170.0] * 12
    out = feed(r, state, values)
    assert states(out) == ["firing", "resolved"]
    assert out[0].value == 160.0 and "changed 60%" in out[0].message
    # once the window has moved past the jump, the change is 0 %: resolved
    down_only = rule(kind="rate", change_pct=50.0, window_s=10.0, direction="down")
    assert feed(down_only, SeriesState(), [100.0] * 5 + [200.0]) == []
    assert states(feed(down_only, SeriesState(), [100.0] * 5 + [40.0])) == ["firing"]


def test_rate_needs_history_and_a_nonzero_reference() -> None:
    r = rule(kind="rate", change_pct=10.0, window_s=60.0)
    assert feed(r, SeriesState(), [5.0]) == []
    assert feed(r, SeriesState(), [0.0, 100.0]) == []


def test_spike_fires_on_an_outlier_and_one_outlier_does_not_mask_the_next() -> None:
    rng = random.Random(7)
    r = rule(kind="spike", zscore=6.0, window_s=600.0)
    state = SeriesState()
    noise = [50 + rng.gauss(0, 1) for _ in range(60)]
    assert feed(r, state, noise, step=5 * S) == []  # one sample per window slot
    start = T0 + 300 * S
    out = feed(r, state, [80.0, 50.3, 49.7, 81.0, 50.1], start=start, step=5 * S)
    assert states(out) == ["firing", "resolved", "firing", "resolved"]
    assert "σ from its median" in out[0].message


def test_robust_z_is_not_dragged_by_outliers_and_handles_flat_series() -> None:
    base = [10.0, 10.2, 9.8, 10.1, 9.9, 10.0] * 6 + [1000.0] * 3  # outliers in the baseline
    z = robust_z(base, 20.0)
    assert z is not None and z > 20
    assert robust_z([1.0] * 3, 5.0) is None  # too few samples
    assert robust_z([3.0] * 40, 3.0) == 0.0
    assert robust_z([3.0] * 40, 4.0) == float("inf")


def test_window_is_bounded() -> None:
    r = rule(kind="spike", zscore=4.0, window_s=60.0)
    state = SeriesState()
    feed(r, state, [1.0] * 2000, step=100)
    assert len(state.window) <= 121
    assert state.window[-1][0] - state.window[0][0] <= 60 * S


def test_nodata_fires_after_the_window_and_resolves_when_data_returns() -> None:
    r = rule(kind="nodata", window_s=30.0)
    state = SeriesState()
    assert check_silence(r, state, "web-1", T0, T0 + 30 * S) is None
    fired = check_silence(r, state, "web-1", T0, T0 + 31 * S)
    assert fired is not None and fired.state == "firing" and fired.cause == "nodata"
    assert "no data from cpu.usage for 30s" in fired.message
    assert check_silence(r, state, "web-1", T0, T0 + 40 * S) is None  # once
    resolved = check_silence(r, state, "web-1", T0 + 41 * S, T0 + 42 * S)
    assert resolved is not None and resolved.state == "resolved"
    assert resolved.incident_key == fired.incident_key


def test_nodata_respects_silence_and_cooldown() -> None:
    r = rule(kind="nodata", window_s=10.0, cooldown_s=100.0, silenced_until_ms=T0 + 50 * S)
    state = SeriesState()
    assert check_silence(r, state, "s", T0, T0 + 20 * S) is None  # silenced
    assert check_silence(r, state, "s", T0, T0 + 51 * S) is not None
    assert check_silence(r, state, "s", T0 + 52 * S, T0 + 53 * S) is not None  # resolved
    assert check_silence(r, state, "s", T0 + 52 * S, T0 + 100 * S) is None  # cooling down
    assert check_silence(r, state, "s", T0 + 52 * S, T0 + 154 * S) is not None


def test_source_down_event_fires_once_and_up_resolves() -> None:
    r = rule(kind="nodata", window_s=60.0, source_down=True)
    state = SeriesState()
    down = source_event(r, state, "source.down", "db", "1-0", "timeout", T0)
    assert down is not None and down.cause == "source_down" and "db is down" in down.message
    assert source_event(r, state, "source.down", "db", "2-0", "", T0 + S) is None
    up = source_event(r, state, "source.up", "db", "3-0", "", T0 + 2 * S)
    assert up is not None and up.state == "resolved" and up.incident_key == down.incident_key
    assert source_event(r, SeriesState(), "source.up", "db", "4-0", "", T0) is None


def test_state_round_trips_through_its_document() -> None:
    r = rule(kind="spike", zscore=3.0, window_s=60.0)
    state = SeriesState()
    feed(r, state, [1.0, 2.0, 3.0] * 20)
    again = SeriesState.from_doc(state.to_doc())
    assert again == state


@pytest.mark.parametrize("kind", ["threshold", "rate", "spike"])
def test_observe_ignores_the_first_point_when_it_cannot_judge(kind: str) -> None:
    r = rule(kind=kind, change_pct=10.0, zscore=3.0, window_s=60.0)
    state = SeriesState()
    result = observe(r, state, "s", T0, 1.0, T0)
    assert result is None
    assert state.last_ts == T0


def test_replay_lists_firings_for_the_preview() -> None:
    r = rule(threshold=80.0)
    points = [(T0 + i * 60 * S, v) for i, v in enumerate([10, 90, 95, 10, 10, 99])]
    firings = replay(r, "web-1", points, T0 + 10 * 60 * S)
    assert [(f.fired_ms, f.resolved_ms) for f in firings] == [
        (T0 + 60 * S, T0 + 180 * S),
        (T0 + 300 * S, None),
    ]
    gaps = [(T0, 1.0), (T0 + 60 * S, 1.0), (T0 + 600 * S, 1.0)]
    nodata = replay(rule(kind="nodata", window_s=120.0), "web-1", gaps, T0 + 660 * S)
    assert [(f.fired_ms, f.resolved_ms) for f in nodata] == [
        (T0 + 60 * S + 120 * S + 1, T0 + 600 * S)
    ]
