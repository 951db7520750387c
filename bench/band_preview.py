"""Cost of `POST /api/alerts/preview` for a forecast_band rule: N series (default 10) of
14 days of 10-minute steps with a daily wave and noise, the rule replayed over the last 7
days (each series' model chosen by backtest once per run of steps, then filtered forward),
timed through data/stores/rule_preview.preview (what the route calls), against a threshold
rule's preview of the same series over the same days as the baseline of the same run.

Usage:

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/band_preview.py
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import scratch_services  # noqa: E402

from app.services import Services  # noqa: E402
from data.domain.band_rule import BAND_STEP_MS  # noqa: E402
from data.domain.points import Point  # noqa: E402
from data.stores.rule_preview import preview  # noqa: E402

DAY_STEPS = 144
STEPS = 14 * DAY_STEPS


def fill(services: Services, tenant: str, series: int, start: int) -> None:
    rng = random.Random(1)
    for s in range(series):
        points = [
            Point(
                uuid.uuid4().hex,
                f"s{s}",
                "m",
                start + i * BAND_STEP_MS + 60_000,
                100 + 20 * math.sin(2 * math.pi * i / DAY_STEPS) + rng.gauss(0, 2),
            )
            for i in range(STEPS)
        ]
        services.history.write_points([(tenant, p) for p in points])


def measure(services: Services, tenant: str, series: int) -> None:
    end = int(time.time() * 1000) // BAND_STEP_MS * BAND_STEP_MS
    fill(services, tenant, series, end - STEPS * BAND_STEP_MS)
    band = {"metric": "m", "kind": "forecast_band"}
    threshold = {"metric": "m", "kind": "threshold", "threshold": 1000}
    preview(services.engine, tenant, band, end)  # warm: statsmodels' import, the code paths
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        answer = preview(services.engine, tenant, band, end)
        runs.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    preview(services.engine, tenant, threshold, end)
    baseline = (time.perf_counter() - t0) * 1000
    load = os.getloadavg()[0]
    print(
        f"forecast_band preview, 7 days x {series} series (load average {load:.2f}): "
        f"{min(runs):.0f} ms best, {max(runs):.0f} ms worst of 3, {answer['fired']} fired; "
        f"baseline, a threshold rule's preview of the same series {baseline:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=10)
    args = parser.parse_args()
    with scratch_services() as services:
        measure(services, "bench", args.series)


if __name__ == "__main__":
    main()
