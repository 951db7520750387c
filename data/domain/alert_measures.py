"""What a value rule measures of a new point, against the rolling window of its series:
the value itself (threshold), the % change over the window (rate) or the robust z-score
against the series' own baseline (spike). Pure arithmetic, no I/O."""

from __future__ import annotations

import math

from data.domain.alert_rule import RuleDef, SeriesState

MIN_BASELINE = 30  # samples a spike rule needs: fewer make σ too uncertain (false alarms)
MAX_SAMPLES = 120  # samples kept per window: older ones are thinned to one per slot
KEPT_DEVIATIONS = 0.8  # σ comes from the smallest 80 % of deviations from the median
TRIMMED_SCALE = 1.7872  # their mean × this estimates σ for normal data


def add_sample(rule: RuleDef, state: SeriesState, ts: int, value: float) -> None:
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
