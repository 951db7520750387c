"""Cost of alert evaluation in the worker: one batch of N points against 100 rules.

Creates a scratch database and Redis prefix on DATABASE_URL / REDIS_URL, 100 threshold
rules (one per metric, source *), and times AlertEngine.evaluate_batch on batches of
`--points` points spread over 100 metrics × `--sources` sources (no rule fires, the common
case). Usage:

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/alert_eval.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import scratch_services  # noqa: E402

from app.worker.alert_evaluator import AlertEngine  # noqa: E402
from data.domain.points import Point  # noqa: E402
from data.stores.alert_rules import AlertRules  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--sources", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    with scratch_services() as services:
        tenant = "bench"
        rules = AlertRules(services.engine, services.redis, services.settings.redis_prefix)
        for m in range(100):
            rules.create(
                tenant, {"name": f"r{m}", "metric": f"m{m}", "kind": "threshold", "threshold": 1e9}
            )
        engine = AlertEngine(services)
        timings = []
        start = int(time.time() * 1000) - 3_600_000
        per_series = max(1, args.points // (100 * args.sources))
        for r in range(args.rounds):
            batch = [
                Point(uuid.uuid4().hex, f"s{s}", f"m{m}", start + (r * per_series + i) * 10, 1.0)
                for m in range(100)
                for s in range(args.sources)
                for i in range(per_series)
            ]
            t0 = time.perf_counter()
            outcome = engine.evaluate_batch({tenant: batch})
            timings.append(time.perf_counter() - t0)
        print(
            f"{len(batch)} points, {outcome.series} (rule, series) pairs per batch, "
            f"100 rules: median {statistics.median(timings) * 1000:.1f} ms, "
            f"max {max(timings) * 1000:.1f} ms per batch "
            f"(first batch, with cold caches: {timings[0] * 1000:.1f} ms)"
        )


if __name__ == "__main__":
    main()
