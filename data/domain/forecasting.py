"""Forecasts and anomaly bands of one evenly stepped series.

STAND-IN: replaced at merge by the engine helper's module. Same names and shapes as the
engine's interface, a deliberately plain model: the forecast is the median of the last day
of steps, its intervals the quantiles of the absolute deviations from it. No alert logic
here (that lives in data/domain/band_rule.py).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

MIN_STEPS = 24  # fewer known steps than this: no band can be trusted
DAY_MS = 86_400_000


class NotEnoughHistory(Exception):
    """The series is too short to forecast: how many steps it needs and has."""

    def __init__(self, needed_steps: int, have_steps: int) -> None:
        super().__init__(f"needs {needed_steps} steps of history, has {have_steps}")
        self.needed_steps = needed_steps
        self.have_steps = have_steps


@dataclass(frozen=True, slots=True)
class Forecast:
    """A forecast: per future step (ts_ms, yhat, lo80, hi80, lo95, hi95)."""

    method: str
    step_ms: int
    points: list[tuple[int, float, float, float, float, float]]
    backtest: dict[str, Any] = field(default_factory=dict)


def _known(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None]


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def fit_forecast(
    ts_ms: Sequence[int], values: Sequence[float | None], step_ms: int, horizon_steps: int
) -> Forecast:
    """Forecast `horizon_steps` steps after the last of `ts_ms`; NotEnoughHistory if short."""
    known = _known(values)
    if len(known) < MIN_STEPS:
        raise NotEnoughHistory(MIN_STEPS, len(known))
    recent = known[-max(MIN_STEPS, DAY_MS // max(step_ms, 1)) :]
    centre = statistics.median(recent)
    deviations = sorted(abs(v - centre) for v in known)
    floor = 1e-9 + 1e-6 * abs(centre)  # a constant series still gets a band
    w80 = max(_quantile(deviations, 0.80), floor)
    w95 = max(_quantile(deviations, 0.95) * 1.1, floor)
    last = ts_ms[-1]
    points = [
        (last + k * step_ms, centre, centre - w80, centre + w80, centre - w95, centre + w95)
        for k in range(1, horizon_steps + 1)
    ]
    return Forecast("stand-in median", step_ms, points, {})


def anomaly_band(
    ts_ms: Sequence[int], values: Sequence[float | None], step_ms: int
) -> list[tuple[int, float | None, float, float, float, bool]]:
    """Per past step after the first MIN_STEPS: (ts_ms, value, yhat, lo95, hi95, outside),
    each band forecast from the steps before it only."""
    out = []
    for i in range(len(ts_ms)):
        try:
            point = fit_forecast(ts_ms[:i], values[:i], step_ms, 1).points[0] if i else None
        except NotEnoughHistory:
            continue
        if point is None:
            continue
        _, yhat, _, _, lo, hi = point
        value = values[i]
        out.append((ts_ms[i], value, yhat, lo, hi, value is not None and not lo <= value <= hi))
    return out
