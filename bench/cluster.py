"""The loopback cluster through nginx: 2 of each role against 1 of each, in the same run.

Starts the cluster of `make cluster-up` (its own orchestration, app/cluster/, on free ports
in a temporary directory), then, with 2 web, 2 stream and 2 worker processes behind nginx:
senders ingest as fast as they are answered (batches with data_ids, through nginx) while
viewers watch on /ws through nginx. Then one of each is stopped (SIGTERM: they drain), nginx
is reloaded with the remaining ones, and the same load runs again on a fresh tenant.
Prints per phase: points/s acknowledged by /api/ingest, points/s stored in PostgreSQL (until
the last is in), fan-out latency (point stamped at send → arrival at a viewer) p50/p99,
delivered/expected, and the ratio of 2 to 1; with the load average (the machine is shared).
Usage:

    .venv/bin/python bench/cluster.py [--points 40000] [--senders 4] [--viewers 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from harness import ROOT, percentile
from sqlalchemy import text

sys.path.insert(0, str(ROOT))
from app.cluster import loopback, servers  # noqa: E402
from app.cluster.layout import DEFAULT_REDIS_MODE, ClusterState, Layout  # noqa: E402
from app.services import Services  # noqa: E402
from tests.cluster import load  # noqa: E402


def tenant_keys(services: Services) -> tuple[str, str, str]:
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    with services.engine.begin() as conn:
        services.accounts.ensure_tenant(conn, tenant)
    ingest = services.accounts.create_api_key(tenant, "bench ingest", "ingest")
    return tenant, ingest, services.accounts.create_api_key(tenant, "bench read", "read")


def stored_count(services: Services, tenant: str) -> int:
    with services.engine.connect() as conn:
        query = text("SELECT count(*) FROM points WHERE tenant_id = :t")
        return int(conn.execute(query, {"t": tenant}).scalar_one())


WARM_UP_POINTS = 2_000


def warm_up(layout: Layout, ingest_key: str) -> None:
    """Unmeasured batches through every process (source chaos-99, before the measured)."""
    load.Sender(layout.url, ingest_key, 99, WARM_UP_POINTS, 100, stamp_now=True).run()


# long: one phase of load told in order: viewers, senders, the store catching up, figures
def phase(layout: Layout, services: Services, args: argparse.Namespace) -> dict[str, float]:
    tenant, ingest_key, read_key = tenant_keys(services)
    cursor = load.current_cursor(layout.url, read_key)
    token = load.stream_token(layout.url, read_key)
    ws_url = layout.url.replace("http", "ws") + "/ws"
    viewers = [load.Viewer(ws_url, token, cursor) for _ in range(args.viewers)]
    viewer_threads = [load.started(v) for v in viewers]
    warm_up(layout, ingest_key)  # a process just started answers its first requests slowly
    time.sleep(1)  # the sockets are open and subscribed before the first measured point
    per = args.points // args.senders
    senders = [
        load.Sender(layout.url, ingest_key, i, per, args.batch, stamp_now=True)
        for i in range(args.senders)
    ]
    began = time.monotonic()
    threads = [load.started(s) for s in senders]
    for thread in threads:
        thread.join()
    acked_s = time.monotonic() - began
    acked = sum(len(s.acknowledged) for s in senders)
    deadline = time.monotonic() + 180
    while stored_count(services, tenant) < acked and time.monotonic() < deadline:
        time.sleep(0.1)
    stored_s = time.monotonic() - began
    stored = stored_count(services, tenant)
    expected = acked + WARM_UP_POINTS
    deadline = time.monotonic() + 20  # the last frames reach the viewers
    while time.monotonic() < deadline and any(len(v.received) < expected for v in viewers):
        time.sleep(0.2)
    for viewer in viewers:
        viewer.stop.set()
    for thread in viewer_threads:
        thread.join(timeout=10)
    latencies = [arrived - ts for v in viewers for ts, arrived in v.arrivals[WARM_UP_POINTS:]]
    return {
        "acked_per_s": acked / acked_s,
        "stored_per_s": stored / stored_s,
        "fanout_p50_ms": percentile(latencies, 50),
        "fanout_p99_ms": percentile(latencies, 99),
        "delivered": sum(len(v.received) for v in viewers) / max(1, expected * args.viewers),
        "ingest_p99_ms": percentile([ms for s in senders for ms in s.latencies_ms], 99),
    }


SECOND = ("web-2", "stream-2", "worker-2")


def one_of_each(layout: Layout, state: ClusterState) -> None:
    """Stop web-2, stream-2 and worker-2 (they drain) and point nginx at the others."""
    stopping = [p for p in state.processes if p.name in SECOND]
    waits = [threading.Thread(target=servers.stop_process, args=(p, (signal.SIGTERM,), 10.0))
             for p in stopping]  # fmt: skip
    servers.reload_nginx(layout, [layout.web_ports[0]], [layout.stream_ports[0]])
    for wait in waits:
        wait.start()
    for wait in waits:
        wait.join()
    state.processes = [p for p in state.processes if p.name not in SECOND]


def two_of_each(layout: Layout, state: ClusterState) -> None:
    """Start web-2, stream-2 and worker-2 again and point nginx at both of each."""
    ports = {"web-2": layout.web_ports[1], "stream-2": layout.stream_ports[1], "worker-2": None}
    for name, port in ports.items():
        state.processes.append(loopback.start_role(layout, state, name, port))
    for record in state.processes:
        if record.name in ("web-2", "stream-2"):
            loopback.wait_role_ready(record)
    servers.reload_nginx(layout, list(layout.web_ports), list(layout.stream_ports))


def report(name: str, figures: dict[str, float]) -> None:
    print(
        f"{name:<12} ingest {figures['acked_per_s']:8.0f} points/s acknowledged "
        f"(request p99 {figures['ingest_p99_ms']:.0f} ms), {figures['stored_per_s']:8.0f} "
        f"points/s stored; fan-out p50 {figures['fanout_p50_ms']:.0f} ms, p99 "
        f"{figures['fanout_p99_ms']:.0f} ms, delivered {figures['delivered']:.1%}; "
        f"load {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=40_000)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--viewers", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="2 then 1 of each, this often")
    parser.add_argument("--redis", default=os.environ.get("CLUSTER_REDIS") or DEFAULT_REDIS_MODE)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pulse-bench-cluster-"))
    layout = Layout.on_free_ports(root, args.redis)
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    began = time.monotonic()
    state = loopback.up(layout, say=False)
    print(f"cluster up in {time.monotonic() - began:.0f} s ({args.redis} redis)", flush=True)
    services = Services.build(loopback.cluster_settings(state), pool_size=2)
    ratios: list[tuple[float, float]] = []
    try:
        for round_ in range(args.rounds):
            if round_:
                two_of_each(layout, state)
            two = phase(layout, services, args)
            report("2 of each", two)
            one_of_each(layout, state)
            one = phase(layout, services, args)
            report("1 of each", one)
            ratios.append((two["acked_per_s"] / one["acked_per_s"],
                           two["stored_per_s"] / one["stored_per_s"]))  # fmt: skip
            print(
                f"2 vs 1: ingest ×{ratios[-1][0]:.2f} acknowledged, ×{ratios[-1][1]:.2f} "
                f"stored; fan-out p99 {two['fanout_p99_ms']:.0f} vs {one['fanout_p99_ms']:.0f} ms",
                flush=True,
            )
        acked, stored = (statistics.median(r[i] for r in ratios) for i in (0, 1))
        print(f"median of {args.rounds} rounds: ×{acked:.2f} acknowledged, ×{stored:.2f} stored")
    finally:
        services.close()
        loopback.down(layout, say=False)


if __name__ == "__main__":
    main()
