"""Cost of the forecast_band job (off the write path): N series with a week of 10-minute
history, one forecast_band rule on `*`, timed per run of BandEvaluator.check in three
cases, against the nodata job over the same series as the baseline of the same run:

- a new step for every series, bands not cached (each series' model, chosen by backtest in
  the run before and cached for a day, filtered forward to the step: once per step and
  series);
- a new step, bands cached (another rule or worker fitted them): the comparison only;
- nothing new (every run between two steps, the common case).

Usage:

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/band_eval.py
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import scratch_services  # noqa: E402

from app.services import Services  # noqa: E402
from app.worker.alert_evaluator import AlertEngine  # noqa: E402
from app.worker.band_evaluator import SETTLE_MS, BandEvaluator  # noqa: E402
from data.domain.band_rule import BAND_STEP_MS  # noqa: E402
from data.domain.points import Point  # noqa: E402
from data.stores.alert_rules import AlertRules  # noqa: E402

STEPS = 7 * 144


def timed(run: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    run()
    return (time.perf_counter() - t0) * 1000


def fill(services: Services, tenant: str, series: int, start: int) -> None:
    rng = random.Random(1)
    for s in range(series):
        points = [
            Point(uuid.uuid4().hex, f"s{s}", "m", start + i * BAND_STEP_MS, 100 + rng.gauss(0, 1))
            for i in range(STEPS)
        ]
        services.history.write_points([(tenant, p) for p in points])
        services.live.publish_points(tenant, points[-1:])


def measure(services: Services, tenant: str, series: int) -> None:
    rules = AlertRules(services.engine, services.redis, services.settings.redis_prefix)
    band = rules.create(tenant, {"name": "b", "metric": "m", "kind": "forecast_band"})
    rules.create(tenant, {"name": "n", "metric": "m", "kind": "nodata", "window_s": 3600})
    now = {"ms": 0}
    timed_services = dataclasses.replace(services, clock=lambda: now["ms"] / 1000)
    alerts = AlertEngine(timed_services)
    bands = BandEvaluator(alerts)
    end = int(time.time() * 1000) // BAND_STEP_MS * BAND_STEP_MS
    fill(services, tenant, series, end - STEPS * BAND_STEP_MS)
    now["ms"] = end - BAND_STEP_MS + SETTLE_MS + 1000  # the newest step: end - 2 steps
    bands.check()  # states of every series, judged up to the step before the measured one
    now["ms"] += BAND_STEP_MS
    fit = timed(bands.check)
    services.redis.delete(rules.state_key(band.rule_id))
    cached = timed(bands.check)  # the states start over at the newest step: bands cached
    idle = timed(bands.check)
    baseline = timed(alerts.check_nodata)
    load = os.getloadavg()[0]
    print(
        f"{series} series, one forecast_band rule (load average {load:.2f}): "
        f"new step with fits {fit:.1f} ms ({fit / series:.2f} ms per series); "
        f"new steps with cached bands {cached:.1f} ms; nothing new {idle:.1f} ms; "
        f"baseline, the nodata job over the same series {baseline:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=20)
    args = parser.parse_args()
    with scratch_services() as services:
        measure(services, "bench", args.series)


if __name__ == "__main__":
    main()
