"""The forecasting engine's band path (data/domain/forecast_band.py): a model chosen once by
the backtest, then filtered forward with no refit. No peeking (a jump after the fit point
or after a step never changes that step's band), the same model as statsmodels' filter, a
calibrated width, and an excursion neither learnt while it lasts nor echoed a day later."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from data.domain.forecast_band import BandModel, bands_after, choose_band_model
from data.domain.forecast_models import Candidate, filter_states
from data.domain.forecasting import NotEnoughHistory

STEP = 600_000
DAY = 144  # steps a day


def series(days: float, seed: int = 4, seasonal: bool = True) -> tuple[list[int], list[float]]:
    """10-minute averages around 100, a daily wave of ±20 if seasonal, noise of σ 2."""
    rng = random.Random(seed)
    n = int(days * DAY)
    wave = [20 * math.sin(2 * math.pi * i / DAY) if seasonal else 0.0 for i in range(n)]
    return [i * STEP for i in range(n)], [100 + w + rng.gauss(0, 2) for w in wave]


def test_a_jump_after_the_fit_point_never_changes_the_model_or_earlier_bands() -> None:
    ts, y = series(5)
    fit_at = 4 * DAY
    model = choose_band_model(ts[:fit_at], y[:fit_at], STEP)
    assert model.chosen_ms == ts[fit_at]
    jump = fit_at + 30
    jumped = y[:jump] + [v + 1e4 for v in y[jump:]]
    again = choose_band_model(ts[:fit_at], jumped[:fit_at], STEP)
    assert again == model
    before = bands_after(model, ts, y, ts[fit_at], 2 * 30)
    after = bands_after(model, ts, jumped, ts[fit_at], 2 * 30)
    assert after[:31] == before[:31]  # up to and including the step of the jump
    assert after[31:] != before[31:]  # the steps after it see it (as the edge allows)


def test_the_filter_is_the_chosen_models_own_when_nothing_is_clipped() -> None:
    ts, y = series(5)
    model = choose_band_model(ts[: 4 * DAY], y[: 4 * DAY], STEP)
    assert model.kind == "ets_ana" and model.season == DAY and model.smoother is not None
    wide = BandModel(**{**model.to_doc(), "multiplier": 1e9, "smoother": model.smoother})
    first = 4 * DAY
    bands = bands_after(wide, ts, y, ts[first], DAY)
    start = (model.start_ms - ts[0]) // STEP
    one_step, _ = filter_states(Candidate("ets_ana", DAY), model.smoother, np.array(y[start:]))
    expected = one_step[first - start : first - start + DAY]
    assert np.allclose([b[1] for b in bands], expected)


@pytest.mark.parametrize("seasonal", [False, True])
def test_the_band_holds_about_95_percent_of_ordinary_steps(seasonal: bool) -> None:
    ts, y = series(7, seed=9, seasonal=seasonal)
    first = 5 * DAY
    model = choose_band_model(ts[:first], y[:first], STEP)
    bands = bands_after(model, ts, y, ts[first], 2 * DAY)
    inside = [lo <= y[first + k] <= hi for k, (_, _, lo, hi) in enumerate(bands)]
    assert 0.88 <= sum(inside) / len(inside) <= 1.0
    assert all(hi - lo < 20 for _, _, lo, hi in bands)  # a band, not the whole wave


def test_an_excursion_is_not_learnt_nor_echoed_a_day_later() -> None:
    ts, y = series(7, seed=2)
    first = 4 * DAY
    model = choose_band_model(ts[:first], y[:first], STEP)
    y = list(y)
    for i in range(first + 10, first + 40):  # five hours 60 above
        y[i] += 60
    bands = bands_after(model, ts, y, ts[first], 2 * DAY)
    outside = [not lo <= y[first + k] <= hi for k, (_, _, lo, hi) in enumerate(bands)]
    assert all(outside[10:40])  # outside for as long as it lasts
    assert sum(outside[40:]) <= 0.1 * len(outside[40:])  # back to ordinary after it
    assert sum(outside[DAY + 10 : DAY + 40]) <= 4  # and no echo at that hour the next day


def test_a_constant_series_has_a_band_of_its_value() -> None:
    ts = [i * STEP for i in range(60)]
    model = choose_band_model(ts, [5.0] * 60, STEP)
    assert model.kind == "constant"
    assert bands_after(model, ts, [5.0] * 60, 60 * STEP, 2) == [
        (60 * STEP, 5.0, 5.0, 5.0),
        (61 * STEP, 5.0, 5.0, 5.0),
    ]


def test_too_short_a_series_says_how_much_it_needs() -> None:
    ts, y = series(0.1)
    with pytest.raises(NotEnoughHistory) as caught:
        choose_band_model(ts, y, STEP)
    assert caught.value.needed_steps > len(ts) == caught.value.have_steps


def test_a_model_reads_back_as_written() -> None:
    ts, y = series(4)
    for model in (
        choose_band_model(ts, y, STEP),
        choose_band_model(ts[:60], [1.0] * 60, STEP),
    ):
        assert BandModel.from_doc(model.to_doc()) == model
