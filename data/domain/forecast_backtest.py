"""The rolling-origin backtest of a forecast and the conformal calibration of its intervals.

Origins are the last `max_origins` multiples of h before the end (non-overlapping test
windows of h steps, the newest ending at the last value). At each origin a candidate is
fitted on the values *before* it only (`y[:origin]`) and scored on the h values after it
that were observed (a value filled into a gap is never scored); an ETS model's parameters
are fitted before the first origin and its states filtered up to each origin
(forecast_models.predict_at_origins). Every candidate is scored
on the same origins, so their errors compare.

Intervals: a model's own 80 % and 95 % intervals (mean ± z·sd) are often too narrow (the
parameters are taken as known, the errors as normal). The backtest's normalised errors
|e| / sd give the multiplier that would have held at each level (split conformal, with the
finite-sample rank ⌈(n+1)·p⌉); the interval is widened to it when it is wider than z, never
narrowed. The coverage the backtest reports is cross-conformal: the multiplier applied at
an origin comes from the other origins' errors only, so no origin grades its own band.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from data.domain.forecast_models import (
    Array,
    Candidate,
    Smoother,
    fit_smoother,
    predict_at_origins,
    predict_with,
)

Z80 = 1.2815515655446004
Z95 = 1.959963984540054
LEVELS = ((0.8, Z80), (0.95, Z95))
SD_FLOOR = 1e-9  # relative: a constant window's zero spread still divides


@dataclass(frozen=True, slots=True)
class Trial:
    """A candidate's backtest: per origin (rows) and lead (columns), the error actual − mean
    (NaN where the actual was not observed) and the forecast's standard deviation; and its
    forecast (mean, sd) after the last value, made the same way."""

    candidate: Candidate
    errors: Array
    sds: Array
    final: tuple[Array, Array]
    smoother: Smoother | None = None  # an ETS model's fit, to filter forward from

    @property
    def mae(self) -> float:
        """Mean absolute error over every scored step."""
        return float(np.nanmean(np.abs(self.errors)))

    def scores(self) -> Array:
        """The normalised errors |e| / sd (NaN where unscored)."""
        floor = SD_FLOOR * (1.0 + float(np.nanmax(np.abs(self.errors))))
        return np.abs(self.errors) / np.maximum(self.sds, floor)


def origins_for(n: int, h: int, min_train: int, max_origins: int) -> list[int]:
    """The origins (indices of the first forecast step), oldest first."""
    found = [n - h * (k + 1) for k in range(max_origins)]
    return sorted(t for t in found if t >= min_train)


def run_trial(
    candidate: Candidate, y: Array, observed: Array, origins: list[int], h: int
) -> Trial | None:
    """The candidate fitted at each origin on what came before it, and forecast after the
    last value by the very same procedure (the forecast is what the backtest scored);
    None if it cannot fit."""
    smoother = None
    if candidate.kind == "snaive":
        answers = predict_at_origins(candidate, y, [*origins, len(y)], h)
    else:
        smoother = fit_smoother(candidate, y, origins[0])
        answers = None
        if smoother is not None:
            answers = predict_with(candidate, smoother, y, [*origins, len(y)], h)
    if answers is None:
        return None
    errors = np.full((len(origins), h), np.nan)
    sds = np.zeros((len(origins), h))
    for row, (origin, (mean, sd)) in enumerate(zip(origins, answers, strict=False)):
        actual = y[origin : origin + h]
        errors[row] = np.where(observed[origin : origin + h], actual - mean, np.nan)
        sds[row] = sd
    return trial_if_scored(Trial(candidate, errors, sds, answers[-1], smoother))


def trial_if_scored(trial: Trial) -> Trial | None:
    """The trial, unless none of its steps could be scored."""
    return trial if np.any(np.isfinite(trial.errors)) else None


def multiplier(scores: Array, level: float, z: float) -> float:
    """The interval half-width in sds that held `level` of the scores (at least z)."""
    finite = np.sort(scores[np.isfinite(scores)])
    if finite.size == 0:
        return z
    rank = min(finite.size, math.ceil((finite.size + 1) * level))
    return max(z, float(finite[rank - 1]))


def cross_coverage(trial: Trial, level: float, z: float) -> float | None:
    """Share of scored steps inside the calibrated interval, each origin's multiplier fitted
    on the other origins."""
    scores = trial.scores()
    inside, scored = 0, 0
    for row in range(scores.shape[0]):
        others = np.delete(scores, row, axis=0)
        width = multiplier(others, level, z)
        mine = scores[row][np.isfinite(scores[row])]
        inside += int(np.sum(mine <= width))
        scored += mine.size
    return inside / scored if scored else None


def mase_scale(y: Array, season: int, end: int) -> float | None:
    """In-sample MAE of the seasonal-naive one-season-ahead forecast over y[:end] (the data
    before the first origin), the denominator of MASE; None when it is zero."""
    if season >= end:
        season = 1
    diffs = np.abs(y[season:end] - y[: end - season])
    scale = float(np.mean(diffs)) if diffs.size else 0.0
    return scale if scale > 0 else None


def figures(trial: Trial, scale: float | None) -> dict[str, Any]:
    """MAE, MASE and the realised cross-conformal coverage of one trial."""
    mae = trial.mae
    return {
        "mae": mae,
        "mase": mae / scale if scale else None,
        "coverage80": cross_coverage(trial, *LEVELS[0]),
        "coverage95": cross_coverage(trial, *LEVELS[1]),
    }


def best_of(trials: list[Trial]) -> Trial:
    """The trial with the smallest MAE; the first listed (the simplest) on a tie."""
    return min(trials, key=lambda trial: trial.mae)
