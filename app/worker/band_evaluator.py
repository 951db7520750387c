"""forecast_band rules, judged by a scheduled job of the worker, never on the write path.

Each run (every BAND_EVERY_S) finds the series the rules watch in the live store's latest
values and judges each series' steps that closed since it was last judged: the step's
average (from the 1-minute rollup) against the band forecast for that step from the week
before it (data/domain/band_rule.py). A series already judged up to the newest closed step
costs nothing but its state's read; a new step costs one small rollup read and, once per
step and series whatever the number of rules or workers, a fit (BandCache). The states,
incidents and notifications are the value rules' (AlertEngine.judge_jobs): restarts, lost
states and redeliveries behave the same.
"""

from __future__ import annotations

from app.services import Services
from app.worker.alert_evaluator import AlertEngine, Outcome
from data.domain.alert_rule import RuleDef, SeriesState, Transition
from data.domain.band_rule import (
    BAND_HISTORY_MS,
    BAND_STEP_MS,
    Band,
    Unready,
    bands_from,
    observe_band,
)
from data.stores.forecast_bands import BandCache, step_averages

BAND_EVERY_S = 30
SETTLE_MS = 90_000  # a step is judged once its last minute's rollup has settled
MAX_CATCHUP_STEPS = 6  # after a pause, the newest hour is judged, not a backlog of fits

Series = tuple[str, str, str]  # tenant, metric, source


class BandEvaluator:
    """Judges the forecast_band rules' series at the injected clock's time."""

    def __init__(self, alerts: AlertEngine) -> None:
        self.alerts = alerts
        self.services: Services = alerts.services
        self.cache = BandCache(self.services.redis, self.services.settings.redis_prefix)

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
        bands: dict[tuple[Series, int], Band | Unready] = {}

        def judge(rule: RuleDef, state: SeriesState, source: str, _: None) -> list[Transition]:
            series = (rule.tenant_id, rule.metric, source)
            return self.judge_series(rule, state, series, newest, now_ms, bands)

        return self.alerts.judge_jobs(jobs, "value", judge)

    def judge_series(
        self,
        rule: RuleDef,
        state: SeriesState,
        series: Series,
        newest: int,
        now_ms: int,
        bands: dict[tuple[Series, int], Band | Unready],
    ) -> list[Transition]:
        """Judge the series' steps after its last judged one, up to `newest`."""
        first = newest - (MAX_CATCHUP_STEPS - 1) * BAND_STEP_MS
        if state.last_ts is not None:
            first = max(first, state.last_ts + BAND_STEP_MS)
        if first > newest:
            return []
        tenant, metric, source = series
        engine = self.services.engine
        judged = step_averages(engine, tenant, metric, source, first, newest + BAND_STEP_MS)
        values = dict(judged.get(source, []))
        out = []
        for at in range(first, newest + 1, BAND_STEP_MS):
            made = bands.get((series, at))
            if made is None:
                made = bands[(series, at)] = self.band(series, at)
            value = values.get(at)
            if isinstance(made, Unready) or value is None:
                state.last_ts = at
                state.note = made.reason if isinstance(made, Unready) else state.note
                continue
            transition = observe_band(rule, state, source, value, made, now_ms)
            if transition is not None:
                out.append(transition)
        return out

    def band(self, series: Series, at_ms: int) -> Band | Unready:
        """The band of the step at `at_ms`: the cached one, or a fit on the week before it."""
        cached = self.cache.get(*series, at_ms)
        if cached is not None:
            return cached
        tenant, metric, source = series
        history = step_averages(
            self.services.engine, tenant, metric, source, at_ms - BAND_HISTORY_MS, at_ms
        )
        made = bands_from(history.get(source, []), at_ms)
        band = made if isinstance(made, Unready) else made[0]
        self.cache.put(*series, band)
        return band


def check_forecast_bands(services: Services, bands: BandEvaluator) -> None:
    """The worker's job: judge the forecast_band rules (off the write path)."""
    bands.check()
