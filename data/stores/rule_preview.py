"""A rule's preview: replaying a rule definition over the last days of the 1-minute rollup,
to show when it would have fired and resolved before it is saved."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import Engine, text

from data.domain.alert_replay import Firing, replay
from data.domain.alert_rule import RuleDef
from data.domain.band_rule import BAND_HISTORY_MS, BAND_STEP_MS, REPLAY_FITS, replay_band
from data.domain.timefmt import iso_ms, to_datetime
from data.stores.alert_rules import parse_rule, spec_def
from data.stores.forecast_bands import step_averages

PREVIEW_MAX_SERIES = 50
# A forecast_band preview chooses a model by backtest (about 0.3 s) per run of steps, and
# filters it forward over the run: at most this many choices in all (several series share
# them), at least one per series, at most one a day (as the worker chooses).
PREVIEW_MAX_FITS = 10
MIN_FITS_PER_SERIES = 1


def preview_history(
    engine: Engine,
    tenant_id: str,
    metric: str,
    source: str,
    since_ms: int,
    until_ms: int,
    column: str,
) -> dict[str, list[tuple[int, float]]]:
    """Per source, the 1-minute rollup of one metric over [since, until): `column` is
    `max`, `min`, `avg` or `bucket` (presence only), what a rule kind replays best."""
    value = {"max": "max", "min": "min", "avg": "sum / count", "bucket": "count"}[column]
    where = "tenant_id = :t AND metric_type = :m AND bucket >= :since AND bucket < :until"
    params: dict[str, Any] = {
        "t": tenant_id,
        "m": metric,
        "since": to_datetime(since_ms),
        "until": to_datetime(until_ms),
    }
    if source != "*":
        where += " AND source = :s"
        params["s"] = source
    query = text(
        f"""
        SELECT source, bucket, {value} AS v FROM rollup_1m WHERE {where}
          AND source IN (SELECT DISTINCT source FROM rollup_1m WHERE {where}
                         ORDER BY source LIMIT {PREVIEW_MAX_SERIES})
        ORDER BY source, bucket
        """
    )
    out: dict[str, list[tuple[int, float]]] = {}
    with engine.connect() as conn:
        for src, bucket, v in conn.execute(query, params):
            out.setdefault(src, []).append((int(bucket.timestamp() * 1000), float(v)))
    return out


def preview(
    engine: Engine, tenant_id: str, doc: dict[str, Any], now_ms: int, days: int = 7
) -> dict[str, Any]:
    """Replay a rule definition over the last `days` of the 1-minute rollup: when it would
    have fired and resolved, per series. Invalid when the definition is bad."""
    spec = parse_rule({"name": "preview", **doc})
    rule = spec_def(spec, tenant_id)
    if rule.kind == "forecast_band":
        return _preview_band(engine, rule, now_ms, days)
    # History is per minute: shorter windows are judged at that resolution.
    if rule.kind in ("rate", "spike"):
        rule = dataclasses.replace(rule, window_s=max(rule.window_s, 120.0))
    if rule.kind == "nodata":
        rule = dataclasses.replace(rule, window_s=max(rule.window_s, 60.0))
    column = {"threshold": "min" if rule.op == "<" else "max", "nodata": "bucket"}.get(
        rule.kind, "avg"
    )
    since_ms = now_ms - days * 86_400_000
    history = preview_history(engine, tenant_id, rule.metric, rule.source, since_ms, now_ms, column)
    series = [
        _series(source, len(points), replay(rule, source, points, now_ms))
        for source, points in history.items()
    ]
    return _answer(since_ms, now_ms, "1m", series)


def _preview_band(engine: Engine, rule: RuleDef, now_ms: int, days: int) -> dict[str, Any]:
    """A forecast_band rule replayed over the steps of the last `days`, each judged against
    the band forecast from the week before it (so a week more history is read)."""
    since_ms = (now_ms - days * 86_400_000) // BAND_STEP_MS * BAND_STEP_MS
    history = step_averages(
        engine, rule.tenant_id, rule.metric, rule.source, since_ms - BAND_HISTORY_MS, now_ms
    )
    series = []
    fits = max(MIN_FITS_PER_SERIES, PREVIEW_MAX_FITS // max(1, len(history)))
    for source, steps in history.items():
        firings, note = replay_band(rule, source, steps, since_ms, now_ms, min(REPLAY_FITS, fits))
        judged = sum(1 for ts, _ in steps if ts >= since_ms)
        series.append({**_series(source, judged, firings), "note": note})
    return _answer(since_ms, now_ms, "10m", series)


def _series(source: str, points: int, firings: list[Firing]) -> dict[str, Any]:
    return {
        "source": source,
        "points": points,
        "firings": [
            {
                "fired_at": iso_ms(f.fired_ms),
                "resolved_at": iso_ms(f.resolved_ms) if f.resolved_ms else None,
                "value": f.value,
                "message": f.message,
            }
            for f in firings
        ],
    }


def _answer(since_ms: int, now_ms: int, step: str, series: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "from": iso_ms(since_ms),
        "to": iso_ms(now_ms),
        "step": step,
        "fired": sum(len(s["firings"]) for s in series),
        "series": series,
    }
