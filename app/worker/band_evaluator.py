"""forecast_band rules, judged by a scheduled job of the worker, never on the write path.

Each run (every BAND_EVERY_S) finds the series the rules watch in the live store's latest
values and judges each series' steps that closed since it was last judged: the step's
average (from the 1-minute rollup) against the band forecast for that step from the week
before it (data/domain/band_rule.py). A series already judged up to the newest closed step
costs nothing but its state's read; a new step costs one small rollup read per metric and,
once per step and series whatever the number of rules or workers, a fit (BandCache); a fit
that fails leaves that step unjudged (logged), never the other series. The states,
incidents and notifications are the value rules' (AlertEngine.judge_jobs): restarts, lost
states and redeliveries behave the same.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from app.services import Services
from app.worker.alert_evaluator import AlertEngine, Outcome
from data.domain.alert_rule import RuleDef, SeriesState, Transition
from data.domain.band_rule import (
    BAND_HISTORY_MS,
    BAND_STEP_MS,
    Band,
    Unready,
    bands_from,
    model_for,
    observe_band,
)
from data.stores.forecast_bands import BandCache, ModelCache, step_averages

log = logging.getLogger(__name__)
BAND_EVERY_S = 30
SETTLE_MS = 90_000  # a step is judged once its last minute's rollup has settled
MAX_CATCHUP_STEPS = 6  # after a pause, the newest hour is judged, not a backlog of fits

ALL_SERIES = 1_000_000
Series = tuple[str, str, str]  # tenant, metric, source


@dataclass
class Run:
    """One run of the job: the steps it judges, and what its series share."""

    newest: int  # the newest settled step
    now_ms: int
    bands: dict[tuple[Series, int], Band | Unready] = field(default_factory=dict)
    recent: dict[tuple[str, str], dict[str, dict[int, float]]] = field(default_factory=dict)

    @property
    def oldest(self) -> int:
        """The oldest step a run catches up with (after a pause of the worker)."""
        return self.newest - (MAX_CATCHUP_STEPS - 1) * BAND_STEP_MS


class BandEvaluator:
    """Judges the forecast_band rules' series at the injected clock's time."""

    def __init__(self, alerts: AlertEngine) -> None:
        self.alerts = alerts
        self.services: Services = alerts.services
        self.cache = BandCache(self.services.redis, self.services.settings.redis_prefix)
        self.models = ModelCache(self.services.redis, self.services.settings.redis_prefix)

    def newest_step(self, now_ms: int) -> int:
        """The start of the newest step that has closed and settled at `now_ms`."""
        return (now_ms - SETTLE_MS) // BAND_STEP_MS * BAND_STEP_MS - BAND_STEP_MS

    def check(self) -> Outcome:
        """Judge every forecast_band rule's series up to the newest settled step."""
        now_ms = self.services.now_ms()
        newest = self.newest_step(now_ms)
        by_tenant: dict[str, list[RuleDef]] = {}
        for rule in self.alerts.rules.enabled_of_kind("forecast_band"):
            by_tenant.setdefault(rule.tenant_id, []).append(rule)
        jobs: list[tuple[RuleDef, str, None]] = []
        for tenant, rules in by_tenant.items():
            latest = self.services.live.latest(tenant)
            for rule in rules:
                jobs += [
                    (rule, source, None)
                    for metric, source in latest
                    if rule.watches(metric, source)
                ]
        if not jobs:
            return Outcome()
        run = Run(newest, now_ms)

        def judge(rule: RuleDef, state: SeriesState, source: str, _: None) -> list[Transition]:
            return self.judge_series(rule, state, (rule.tenant_id, rule.metric, source), run)

        return self.alerts.judge_jobs(jobs, "value", judge)

    def judge_series(
        self, rule: RuleDef, state: SeriesState, series: Series, run: Run
    ) -> list[Transition]:
        """Judge the series' steps after its last judged one, up to the run's newest."""
        first = run.newest  # a new series (or rule) starts at the newest step: no backlog
        if state.last_ts is not None:
            first = max(run.oldest, state.last_ts + BAND_STEP_MS)
        if first > run.newest:
            return []  # the common case: judged already, nothing read
        tenant, metric, source = series
        values = self.recent_steps(run, tenant, metric).get(source, {})
        out = []
        for at in range(first, run.newest + 1, BAND_STEP_MS):
            made = run.bands.get((series, at))
            if made is None:
                made = run.bands[(series, at)] = self.band(series, at)
            value = values.get(at)
            if isinstance(made, Unready) or value is None:
                state.last_ts = at
                state.note = made.reason if isinstance(made, Unready) else state.note
                continue
            transition = observe_band(rule, state, source, value, made, run.now_ms)
            if transition is not None:
                out.append(transition)
        return out

    def recent_steps(self, run: Run, tenant: str, metric: str) -> dict[str, dict[int, float]]:
        """Per source, the averages of the run's steps (one read per metric and run)."""
        if (tenant, metric) not in run.recent:
            found = step_averages(
                self.services.engine,
                tenant,
                metric,
                "*",
                run.oldest,
                run.newest + BAND_STEP_MS,
                max_series=ALL_SERIES,
            )
            run.recent[(tenant, metric)] = {src: dict(steps) for src, steps in found.items()}
        return run.recent[(tenant, metric)]

    def band(self, series: Series, at_ms: int) -> Band | Unready:
        """The band of the step at `at_ms`: the cached one, or one filtered forward with the
        series' model of the day (chosen by backtest on the week before, when none is)."""
        cached = self.cache.get(*series, at_ms)
        if cached is not None:
            return cached
        tenant, metric, source = series
        history = step_averages(
            self.services.engine, tenant, metric, source, at_ms - BAND_HISTORY_MS, at_ms
        )
        steps = history.get(source, [])
        try:
            kept = self.models.get(*series, at_ms)
            model = kept or model_for(steps, at_ms)  # the backtest: once a day per series
            if kept is None and not isinstance(model, Unready):
                self.models.put(*series, model)
            made = model if isinstance(model, Unready) else bands_from(steps, at_ms, 1, model)
        except Exception:  # one series' failing model must not hold up the others' steps
            log.exception("forecast of %s on %s failed for step %d", metric, source, at_ms)
            made = Unready(at_ms, "the forecast failed for this step")
        band = made if isinstance(made, Unready) else made[0]
        self.cache.put(*series, band)
        return band


def check_forecast_bands(services: Services, bands: BandEvaluator) -> None:
    """The worker's job: judge the forecast_band rules (off the write path)."""
    bands.check()
