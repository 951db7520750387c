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
import os
import secrets
import statistics
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.services import Services  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.worker.alert_evaluator import AlertEngine  # noqa: E402
from data.domain.points import Point  # noqa: E402
from data.stores.alert_rules import AlertRules  # noqa: E402
from data.stores.db import migrate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--sources", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    server = os.environ["DATABASE_URL"]
    name = f"pulse_bench_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    prefix = f"pulse-bench-{secrets.token_hex(4)}:"
    settings = Settings(
        database_url=make_url(server).set(database=name).render_as_string(hide_password=False),
        redis_url=os.environ["REDIS_URL"],
        redis_prefix=prefix,
        secret_key="bench",
    )
    services = Services.build(settings)
    try:
        migrate(services.engine)
        tenant = "bench"
        with services.engine.begin() as conn:
            services.accounts.ensure_tenant(conn, tenant)
        rules = AlertRules(services.engine, services.redis, prefix)
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
    finally:
        keys = list(services.redis.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            services.redis.delete(*keys)
        services.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
