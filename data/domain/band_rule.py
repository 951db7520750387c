"""The forecast_band rule: a series judged, step by step, against the 95 % band its own
history forecast for that step. Pure: the evaluator and the preview bring the steps.

What is judged, and why:
- The series is averaged into BAND_STEP_MS steps (10 minutes): the band is a forecast of
  step averages, so a step average is what can fairly be outside it (a raw point is noisier
  than the band was made for, and would fire on noise).
- The band of step S is forecast from the BAND_HISTORY_MS of steps before S only, never S
  or later, live and in the preview alike, by the forecasting engine's band path
  (data/domain/forecast_band.py): a model chosen by the engine's backtest (live, once a day
  per series, cached; in the preview, once per run of steps, REPLAY_FITS runs at most),
  then filtered forward with no refit, each step's band the one-step forecast from the
  states after the step before it. A fit per step would cost a backtest (about 0.3 s) per
  series and step, and would learn an excursion within a step or two (its first steps in
  the newest backtest windows widen the band and favour the naive model), so a series that
  stays outside would look inside before `for_s` had passed. Live, the band of S is made
  once, when S is first judged, and cached per series for that step
  (data/stores/forecast_bands.py); judging is then one comparison.
- The measure is the distance from the forecast in half-widths of the band on the value's
  side (1 = on the 95 % edge), fed to the same state machine as the other kinds: pending
  beyond 1, firing once held for `for_s` (from the start of the first step outside), resolved
  at the clear level (default 0.8), cooldown and silence as for any rule.
- Too short a history is no error: the series stays quiet and its state says what it needs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

from data.domain.alert_replay import Collector, Firing
from data.domain.alert_rule import RuleDef, SeriesState, Transition
from data.domain.alert_state_machine import judge_level
from data.domain.forecast_band import BandModel, bands_after, choose_band_model
from data.domain.forecasting import NotEnoughHistory

BAND_STEP_MS = 600_000
BAND_HISTORY_MS = 7 * 86_400_000
MAX_GAP_STEPS = 144  # a band forecast further than a day past the last data is not made
REPLAY_FITS = 7  # the preview's 7 days: a model chosen a day, as live (MODEL_TTL_MS)
MODEL_TTL_MS = 86_400_000  # live, a series' band model is chosen anew a day after the last
RETRY_MS = 3_600_000  # a replay without a model (short history) tries again this much later


@dataclass(frozen=True, slots=True)
class Band:
    """The 95 % band forecast for the step starting at `at_ms`."""

    at_ms: int
    yhat: float
    lo: float
    hi: float

    def distance(self, value: float) -> float:
        """|value − forecast| in half-widths of the band on the value's side."""
        half = self.hi - self.yhat if value >= self.yhat else self.yhat - self.lo
        gap = abs(value - self.yhat)
        if half <= 0:
            return 0.0 if gap == 0 else math.inf
        return gap / half

    def to_doc(self) -> dict[str, float | int | str]:
        return {"at": self.at_ms, "yhat": self.yhat, "lo": self.lo, "hi": self.hi}


@dataclass(frozen=True, slots=True)
class Unready:
    """No band for the step at `at_ms`: why (the note the rule's state shows)."""

    at_ms: int
    reason: str

    def to_doc(self) -> dict[str, float | int | str]:
        return {"at": self.at_ms, "why": self.reason}


def band_from_doc(doc: dict[str, object]) -> Band | Unready:
    """A cached band (or its absence) as to_doc wrote it."""
    at = int(doc["at"])  # type: ignore[call-overload]
    if "why" in doc:
        return Unready(at, str(doc["why"]))
    return Band(at, float(doc["yhat"]), float(doc["lo"]), float(doc["hi"]))  # type: ignore[arg-type]


def needs_more(needed_steps: int, have_steps: int, step_ms: int = BAND_STEP_MS) -> str:
    """The note of a series too short to forecast, in hours."""
    hours = max(1, math.ceil((needed_steps - have_steps) * step_ms / 3_600_000))
    return f"needs {hours} more hour{'s' if hours != 1 else ''} of history"


def model_for(
    steps: Sequence[tuple[int, float]], at_ms: int, step_ms: int = BAND_STEP_MS
) -> BandModel | Unready:
    """The band model for the steps from `at_ms` on, chosen by backtest on the history
    window before it (data/domain/forecast_band.py), or why there is none."""
    before = _before(steps, at_ms)
    if isinstance(before, Unready):
        return before
    first, last = before[0][0], before[-1][0]
    grid = list(range(first, last + 1, step_ms))
    known = dict(before)
    try:
        return choose_band_model(grid, [known.get(t) for t in grid], step_ms)
    except NotEnoughHistory as short:
        return Unready(at_ms, needs_more(short.needed_steps, short.have_steps, step_ms))


def _before(steps: Sequence[tuple[int, float]], at_ms: int) -> list[tuple[int, float]] | Unready:
    """The steps of the history window before `at_ms`, or why they cannot make a band."""
    before = [(t, v) for t, v in steps if at_ms - BAND_HISTORY_MS <= t < at_ms]
    if not before:
        return Unready(at_ms, "no history yet")
    if (at_ms - before[-1][0]) // BAND_STEP_MS > MAX_GAP_STEPS:
        return Unready(at_ms, "no data in the day before")
    return before


def bands_from(
    steps: Sequence[tuple[int, float]],
    at_ms: int,
    count: int = 1,
    model: BandModel | None = None,
) -> list[Band] | Unready:
    """The bands of the `count` steps from `at_ms` on, each forecast from the steps before
    it only, with `model` (chosen before `at_ms`) or one chosen on the steps before `at_ms`."""
    before = _before(steps, at_ms)
    if isinstance(before, Unready):
        return before
    made = model if model is not None else model_for(steps, at_ms)
    if isinstance(made, Unready):
        return made
    kept = [(t, v) for t, v in steps if at_ms - BAND_HISTORY_MS <= t < at_ms + count * BAND_STEP_MS]
    ts, values = [t for t, _ in kept], [v for _, v in kept]
    return [Band(*step) for step in bands_after(made, ts, values, at_ms, count)]


def observe_band(
    rule: RuleDef,
    state: SeriesState,
    source: str,
    value: float,
    band: Band,
    now_ms: int,
) -> Transition | None:
    """Judge the step average `value` of the step `band` was forecast for; each step once."""
    ts = band.at_ms
    if state.last_ts is not None and ts <= state.last_ts:
        return None
    state.last_ts, state.note = ts, None

    def what() -> str:
        return (
            f"{rule.metric} {value:.6g} outside its 95 % band "
            f"[{band.lo:.6g}, {band.hi:.6g}] (forecast {band.yhat:.6g})"
        )

    return judge_level(rule, state, source, ts, value, band.distance(value), now_ms, what)


def replay_band(
    rule: RuleDef,
    source: str,
    steps: Sequence[tuple[int, float]],
    since_ms: int,
    until_ms: int,
    fits: int = REPLAY_FITS,
) -> tuple[list[Firing], str | None]:
    """The incidents a forecast_band rule would have opened over the complete steps in
    [since, until), and why steps went unjudged (the newest reason), if any did.

    The span is cut into `fits` runs: a model is chosen (by backtest) at the start of each
    from the steps before it, and each step of the run is judged against the band filtered
    forward to it (one filter pass a run). A run whose start had no model tries again an
    hour later (a new series' history grows during the run)."""
    rule_now = dataclasses.replace(rule, silenced_until_ms=None)
    judged = [(t, v) for t, v in steps if since_ms <= t and t + BAND_STEP_MS <= until_ms]
    state, found, note = SeriesState(), Collector(), None
    run_ms = max(1, math.ceil((until_ms - since_ms) / BAND_STEP_MS / max(1, fits))) * BAND_STEP_MS
    bands: dict[int, Band] = {}
    retry_at = since_ms
    for ts, value in judged:
        if ts >= retry_at:
            run_end = since_ms + ((ts - since_ms) // run_ms + 1) * run_ms
            made = bands_from(steps, ts, (run_end - ts) // BAND_STEP_MS)
            if isinstance(made, Unready):
                bands, note = {}, made.reason
                retry_at = min(run_end, ts + RETRY_MS)
            else:
                bands, retry_at = {b.at_ms: b for b in made}, run_end
        band = bands.get(ts)
        if band is not None:
            found.take(observe_band(rule_now, state, source, value, band, ts))
    return found.done(), note
