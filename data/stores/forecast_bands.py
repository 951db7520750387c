"""What the forecast_band rule reads: a series' step averages from the 1-minute rollup, and
the band of its current step, cached in Redis per series for that one step.

The cache, `{prefix}forecast-band:{tenant}|{metric}|{source}`, holds the band (or why there
is none) of one step: every rule on the series and every worker shares the one fit, made at
most once per step; it expires after two steps.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, text

from data.domain.band_rule import BAND_STEP_MS, MODEL_TTL_MS, Band, Unready, band_from_doc
from data.domain.forecast_band import BandModel
from data.domain.timefmt import to_datetime

BAND_PREVIEW_MAX_SERIES = 10  # a replay fits a model REPLAY_FITS times per series


def step_averages(
    engine: Engine,
    tenant_id: str,
    metric: str,
    source: str,
    since_ms: int,
    until_ms: int,
    step_ms: int = BAND_STEP_MS,
    max_series: int = BAND_PREVIEW_MAX_SERIES,
) -> dict[str, list[tuple[int, float]]]:
    """Per source (`*`: the first `max_series`), the averages of the steps in [since, until)
    from the 1-minute rollup, in time order."""
    where = "tenant_id = :t AND metric_type = :m AND bucket >= :since AND bucket < :until"
    params: dict[str, Any] = {
        "t": tenant_id,
        "m": metric,
        "since": to_datetime(since_ms),
        "until": to_datetime(until_ms),
        "step": step_ms,
    }
    if source != "*":
        where += " AND source = :s"
        params["s"] = source
    query = text(
        f"""
        SELECT source, floor(extract(epoch FROM bucket) * 1000 / :step)::bigint * :step AS at,
               sum(sum) / sum(count) AS v
          FROM rollup_1m WHERE {where}
           AND source IN (SELECT DISTINCT source FROM rollup_1m WHERE {where}
                          ORDER BY source LIMIT {int(max_series)})
         GROUP BY source, at ORDER BY source, at
        """
    )
    out: dict[str, list[tuple[int, float]]] = {}
    with engine.connect() as conn:
        for src, at, v in conn.execute(query, params):
            out.setdefault(src, []).append((int(at), float(v)))
    return out


class BandCache:
    """The band of each series' current step, shared by rules and workers."""

    def __init__(self, redis: Any, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def key(self, tenant_id: str, metric: str, source: str) -> str:
        return f"{self.prefix}forecast-band:{tenant_id}|{metric}|{source}"

    def get(self, tenant_id: str, metric: str, source: str, at_ms: int) -> Band | Unready | None:
        """The cached band of the step at `at_ms`; None if the cache holds another step."""
        raw = self.redis.get(self.key(tenant_id, metric, source))
        if raw is None:
            return None
        made = band_from_doc(orjson.loads(raw))
        return made if made.at_ms == at_ms else None

    def put(self, tenant_id: str, metric: str, source: str, made: Band | Unready) -> None:
        """Keep the band of one step (it is of no use two steps later)."""
        ttl_s = 2 * BAND_STEP_MS // 1000
        self.redis.set(self.key(tenant_id, metric, source), orjson.dumps(made.to_doc()), ex=ttl_s)


class ModelCache:
    """Each series' band model (data/domain/forecast_band.py), chosen by backtest at most
    once a day per series and shared by rules and workers:
    `{prefix}forecast-band-model:{tenant}|{metric}|{source}`, expiring after a day."""

    def __init__(self, redis: Any, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def key(self, tenant_id: str, metric: str, source: str) -> str:
        return f"{self.prefix}forecast-band-model:{tenant_id}|{metric}|{source}"

    def get(self, tenant_id: str, metric: str, source: str, at_ms: int) -> BandModel | None:
        """The model for the step at `at_ms`: chosen before it, less than a day before."""
        raw = self.redis.get(self.key(tenant_id, metric, source))
        if raw is None:
            return None
        model = BandModel.from_doc(orjson.loads(raw))
        return model if 0 <= at_ms - model.chosen_ms < MODEL_TTL_MS else None

    def put(self, tenant_id: str, metric: str, source: str, model: BandModel) -> None:
        ttl_s = MODEL_TTL_MS // 1000
        self.redis.set(self.key(tenant_id, metric, source), orjson.dumps(model.to_doc()), ex=ttl_s)


def waiting_notes(redis: Any, state_keys: dict[str, str]) -> dict[str, str]:
    """Per rule (id → its state hash), why its series are not judged yet, when none of them
    is: the note of a forecast_band rule whose every series still lacks history."""
    ids = list(state_keys)
    with redis.pipeline(transaction=False) as pipe:
        for rule_id in ids:
            pipe.hvals(state_keys[rule_id])
        found = pipe.execute()
    out = {}
    for rule_id, raw_states in zip(ids, found, strict=True):
        notes = [orjson.loads(raw).get("n") for raw in raw_states]
        if notes and all(notes):
            out[rule_id] = min(notes)
    return out
