"""What REDIS_WAIT_REPLICAS costs an ingest: enqueue latency and rate on a loopback Redis
Cluster (3 primaries, a replica each) with WAIT 1 against without, in the same run.

    .venv/bin/python -m bench.redis_wait [--batches 2000] [--points 100]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from app.cluster.layout import free_port_run
from app.embedded.redis_cluster import LoopbackRedisCluster
from data.domain.points import Point
from data.stores.live import LiveStore
from data.stores.redis_connect import connect_redis
from data.stores.redis_keys import RedisKeys


def run(live: LiveStore, batches: int, size: int) -> tuple[float, float, float]:
    """Enqueue `batches` batches of `size` points over 8 tenants: p50 ms, p99 ms, points/s."""
    now = int(time.time() * 1000)
    took: list[float] = []
    start = time.perf_counter()
    for b in range(batches):
        points = [Point(f"{b:016x}{i:016x}", "s", "m", now + i, float(i)) for i in range(size)]
        t0 = time.perf_counter()
        live.enqueue(f"bench-{b % 8}", points)
        took.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - start
    took.sort()
    return statistics.median(took), took[int(len(took) * 0.99)], batches * size / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--points", type=int, default=100)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="pulse-bench-rcluster-"))
    cluster = LoopbackRedisCluster(directory, base_port=free_port_run(6))
    cluster.start()
    try:
        client = connect_redis(cluster.url)
        keys = RedisKeys("bench:", 16, clustered=True)
        print(f"load average {os.getloadavg()[0]:.2f}; {args.batches} x {args.points} points")
        for wait in (0, 1, 0, 1):  # interleaved: the machine's noise falls on both
            p50, p99, rate = run(
                LiveStore(client, "bench:", keys=keys, wait_replicas=wait),
                args.batches,
                args.points,
            )
            print(f"WAIT {wait}: p50 {p50:.2f} ms  p99 {p99:.2f} ms  {rate:,.0f} points/s")
        client.close()
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
