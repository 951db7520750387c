"""Prometheus text exposition scrapes.

- Counters become per-second rates between two scrapes (the previous sample is kept in the
  source's state); the first scrape, and a scrape after a counter reset (the value went
  down), gives no rate for that series rather than a negative or made-up one.
- Gauges and untyped samples stay values.
- Histograms and summaries: their `_sum` and `_count` are counters, so they become rates
  (sum rate / count rate is the mean); buckets and quantiles are skipped, since a bucket
  per series would multiply the series count for little dashboard value. The `_created`
  timestamps prometheus_client adds beside counters are skipped too.
- Series are named `prefix + sample name`; their Pulse `source` is the values of
  `source_labels` joined by `separator`, or the configured `source`, or the source's own
  name. Series that land on the same (metric, source) are added up, like PromQL's
  `sum by`, so `source_labels: ["cpu"]` on node_cpu_seconds_total sums the modes per CPU.
- `include` / `exclude` globs match the family or the sample name; more than `max_series`
  series after filtering fails the poll rather than flooding the pipeline.
"""

from __future__ import annotations

import math
from fnmatch import fnmatchcase
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from app.worker.sources.base import PollContext, PollResult, SourceError, fetch, sanitise, stable_id
from data.domain.points import Point
from data.domain.source_spec import PrometheusConfig

ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"
RATE_TYPES = ("counter",)
SUMMED_TYPES = ("histogram", "summary")


def poll(config: PrometheusConfig, state: dict[str, Any], ctx: PollContext) -> PollResult:
    """Scrape once; return gauges, rates of counters since the last scrape, and the state."""
    body = fetch(config.url, config.headers, ctx, ACCEPT)
    gauges, counters = collect(body.decode("utf-8", errors="replace"), config, ctx.name)
    if len(gauges) + len(counters) > config.max_series:
        raise SourceError(
            f"{len(gauges) + len(counters)} series exceed max_series={config.max_series};"
            " narrow them with include/exclude"
        )
    points = [_point(ctx, key, value) for key, value in gauges.items()]
    points += _rates(ctx, counters, state)
    return PollResult(points, {"at": ctx.now_ms, "counters": counters})


def collect(
    text: str, config: PrometheusConfig, default_source: str
) -> tuple[dict[str, float], dict[str, float]]:
    """(gauges, counters) keyed `metric|source`, from an exposition text."""
    try:
        families = list(text_string_to_metric_families(text))
    except Exception:  # the parser raises assorted errors on garbage
        # Its messages quote the offending line: the body is the target's, never shown.
        raise SourceError("not a Prometheus text exposition") from None
    if not families and text.strip():
        raise SourceError("not a Prometheus text exposition: no metrics found")
    with_created = {f.name for f in families if f.type in RATE_TYPES + SUMMED_TYPES}
    gauges: dict[str, float] = {}
    counters: dict[str, float] = {}
    for family in families:
        for sample in family.samples:
            kind = _sample_kind(family.type, family.name, sample.name, with_created)
            if kind is None or not _wanted(config, family.name, sample.name):
                continue
            if not math.isfinite(sample.value):
                continue
            key = f"{sanitise(config.prefix + sample.name)}|{_source(config, sample.labels)}"
            if key.endswith("|"):
                key += sanitise(config.source or default_source)
            target = counters if kind == "counter" else gauges
            target[key] = target.get(key, 0.0) + float(sample.value)
    return gauges, counters


def _sample_kind(family_type: str, family: str, sample: str, with_created: set[str]) -> str | None:
    if sample.endswith("_created") and (
        family_type in RATE_TYPES + SUMMED_TYPES or sample.removesuffix("_created") in with_created
    ):
        return None
    if family_type in RATE_TYPES:
        return "counter"
    if family_type in SUMMED_TYPES:
        return "counter" if sample in (f"{family}_sum", f"{family}_count") else None
    if family_type in ("gauge", "unknown", "untyped"):
        return "gauge"
    return None  # info, stateset, gaugehistogram: not numbers worth a chart


def _wanted(config: PrometheusConfig, family: str, sample: str) -> bool:
    def matches(globs: list[str]) -> bool:
        return any(fnmatchcase(name, g) for g in globs for name in (family, sample))

    return matches(config.include) and not matches(config.exclude)


def _source(config: PrometheusConfig, labels: dict[str, str]) -> str:
    values = [labels[name] for name in config.source_labels if labels.get(name)]
    return sanitise(config.separator.join(values)) if values else ""


def _point(ctx: PollContext, key: str, value: float) -> Point:
    metric, source = key.split("|", 1)
    return Point(stable_id(ctx.source_id, key, ctx.now_ms), source, metric, ctx.now_ms, value)


def _rates(ctx: PollContext, counters: dict[str, float], state: dict[str, Any]) -> list[Point]:
    previous: dict[str, float] = state.get("counters") or {}
    seconds = (ctx.now_ms - int(state.get("at") or 0)) / 1000
    if not previous or seconds <= 0:
        return []
    out = []
    for key, value in counters.items():
        before = previous.get(key)
        if before is None or value < before:  # new series, or a reset: no rate this time
            continue
        out.append(_point(ctx, key, (value - before) / seconds))
    return out
