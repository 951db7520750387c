"""Sustained ingest: HTTP batches → ingest stream → worker → PostgreSQL raw + rollups + Redis.

Sender processes post bodies of `--batch` points in `--format` (json: the contract's JSON,
pre-encoded and posted again and again, without data_ids unless `--client-ids`; lp: Influx
line protocol as `text/plain`; rw: Prometheus remote write to /api/v1/write; see
bench/ingest_formats.py) at `--rate` points/s in all, or as fast as they can (`--rate 0`),
for `--seconds`. Meanwhile the ingest stream is sampled every 0.25 s: its lag in time (age
of the oldest entry no writer has committed yet), entries undelivered and pending. Then
Pulse is given time to drain, and `/metrics` tells what was accepted, stored, and how long
each batch write took. The same load then runs against today's path: the Pulse of
`--baseline-ref` (default main), checked out into a temporary directory. The baseline, in
the first run's database after it has drained: a plain writer inserting the same number of
points one row per INSERT (psycopg, one transaction per `--batch` rows, no rollups). Usage:

    .venv/bin/python bench/ingest.py [--seconds 20] [--senders 3] [--batch 1000] [--rate 0]
                                     [--format json|lp|rw] [--client-ids] [--workers 1]
                                     [--baseline-ref main] [--baseline-seconds 60]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import psutil
import psycopg
import requests
from connect_storm import checkout
from harness import ROOT, Pulse, percentile, running_pulse
from ingest_formats import FORMATS, METRICS, PATHS, SOURCES, TYPES, Bodies
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from sqlalchemy.engine import make_url


def sender(
    index: int,
    url: str,
    key: str,
    args: argparse.Namespace,
    rate: float,
    start_at: float,
    out: Any,
) -> None:
    """Post bodies of `args.format` until the deadline, at `rate` points/s (0: flat out);
    report what it saw."""
    bodies = Bodies(args.format, args.batch, index, args.senders, args.client_ids)
    # http.client rather than requests: a third of the client CPU per request, which
    # leaves more of the two shared cores to the Pulse being measured.
    target = urlsplit(url)
    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
    headers = {"Authorization": f"Bearer {key}", **TYPES[args.format]}
    path = PATHS[args.format]
    interval = args.batch / rate if rate > 0 else 0.0
    time.sleep(max(0.0, start_at - time.time()))
    deadline = time.monotonic() + args.seconds
    next_at = time.monotonic()
    accepted, refused, latencies = 0, 0, []
    while time.monotonic() < deadline:
        began = time.perf_counter()
        conn.request("POST", path, body=bodies.next(), headers=headers)
        resp = conn.getresponse()
        answer = resp.read()
        latencies.append((time.perf_counter() - began) * 1000)
        if resp.status == 202:
            accepted += orjson.loads(answer)["accepted"]
        else:
            refused += args.batch
        if interval:
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
    out.put((accepted, refused, latencies))


def scrape(pulse: Pulse) -> dict[str, Any]:
    """The figures of GET /metrics this bench reads."""
    text = requests.get(pulse.url + "/metrics", timeout=10).text
    out: dict[str, Any] = {
        "accepted": 0.0,
        "stored": 0.0,
        "duplicate": 0.0,
        "buckets": {},
        "writes": 0.0,
        "write_sum": 0.0,
    }
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "pulse_points_accepted_total":
                out["accepted"] += s.value
            elif s.name == "pulse_points_written_total":
                out[s.labels["outcome"]] += s.value
            elif s.name == "pulse_batch_write_seconds_bucket":
                le = float(s.labels["le"])
                out["buckets"][le] = out["buckets"].get(le, 0.0) + s.value
            elif s.name == "pulse_batch_write_seconds_count":
                out["writes"] += s.value
            elif s.name == "pulse_batch_write_seconds_sum":
                out["write_sum"] += s.value
    return out


def bucket_quantile(buckets: dict[float, float], q: float) -> float:
    """histogram_quantile as Prometheus computes it: linear within the bucket, seconds."""
    edges = sorted(buckets)
    total = buckets[edges[-1]] if edges else 0.0
    if not total:
        return float("nan")
    rank, lower, below = q * total, 0.0, 0.0
    for edge in edges:
        if buckets[edge] >= rank:
            if edge == float("inf"):
                return float("inf")  # above the largest finite bucket
            return lower + (edge - lower) * (rank - below) / max(buckets[edge] - below, 1e-9)
        lower, below = edge, buckets[edge]
    return lower


def stream_state(redis: Redis, key: str) -> tuple[float, int, int]:
    """(lag in seconds, entries undelivered, entries pending) of the writers' group.

    The lag is the age of the oldest entry not yet committed: the oldest pending one, or
    else the first one after the group's last delivered id."""
    now_ms = time.time() * 1000
    try:
        groups = redis.xinfo_groups(key)
    except Exception:
        return 0.0, 0, 0
    if not groups:
        return 0.0, 0, 0
    group = groups[0]
    pending = int(group["pending"])
    undelivered = int(group.get("lag") or 0)
    oldest = None
    if pending:
        oldest = redis.xpending(key, group["name"])["min"]
    else:
        after = redis.xrange(key, min=b"(" + group["last-delivered-id"], count=1)
        if after:
            oldest = after[0][0]
    if oldest is None:
        return 0.0, undelivered, pending
    oldest_ms = int(oldest.split(b"-")[0])
    return max(0.0, (now_ms - oldest_ms) / 1000), undelivered, pending


def sample_stream(pulse: Pulse, stop: threading.Event, out: list[tuple[float, ...]]) -> None:
    redis = Redis.from_url(pulse.env["REDIS_URL"])
    key = pulse.env["REDIS_PREFIX"] + "ingest"
    started = time.monotonic()
    while not stop.is_set():
        lag_s, undelivered, pending = stream_state(redis, key)
        out.append((time.monotonic() - started, lag_s, undelivered, pending))
        stop.wait(0.25)


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return float(times.user + times.system)


def server_processes(pulse: Pulse) -> dict[str, list[psutil.Process]]:
    """PostgreSQL's backends on the run's database and its WAL writer, checkpointer and
    background writer; Redis. Both are shared with anything else running on the machine."""
    database = pulse.env["DATABASE_URL"].rsplit("/", 1)[-1]
    shared = ("walwriter", "checkpointer", "background writer")
    postgres, redis = [], []
    for proc in psutil.process_iter(["name", "cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if proc.info["name"] == "postgres" and (
            f" {database} " in line or any(s in line for s in shared)
        ):
            postgres.append(proc)
        elif proc.info["name"] in ("valkey-server", "redis-server"):
            redis.append(proc)
    return {"postgres": postgres, "redis": redis}


def measure_pulse(
    pulse: Pulse, args: argparse.Namespace, extra_workers: list[subprocess.Popen[bytes]]
) -> dict[str, Any]:
    key = pulse.admin(
        "create-api-key", "--tenant", "bench", "--name", "in", "--scope", "ingest"
    ).splitlines()[-1]
    roles = _pulse_processes(pulse, extra_workers)
    before = scrape(pulse)
    out: Any = multiprocessing.Queue()
    start_at = time.time() + 2.0  # every sender has encoded its bodies by then
    procs = _start_senders(pulse, args, key, start_at, out)
    time.sleep(max(0.0, start_at - time.time()))
    watched = {
        **roles,
        "senders": [psutil.Process(p.pid) for p in procs],
        **server_processes(pulse),
    }
    cpu_before = {name: sum(_cpu(p) for p in group) for name, group in watched.items()}
    samples: list[tuple[float, ...]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample_stream, args=(pulse, stop, samples))
    sampler.start()
    started = time.monotonic()
    results = [out.get(timeout=args.seconds + 120) for _ in procs]
    sent_s = time.monotonic() - started
    # PostgreSQL backends opened during the run count from zero.
    watched.update(server_processes(pulse))
    cpu = {
        name: (sum(_cpu(p) for p in group) - cpu_before[name]) / sent_s
        for name, group in watched.items()
    }
    at_end = scrape(pulse)
    for proc in procs:
        proc.join(10)
    accepted = sum(r[0] for r in results)
    now = _wait_stored(pulse, before, at_end, accepted)
    drained_s = time.monotonic() - started
    stop.set()
    sampler.join()
    stored = now["stored"] - before["stored"]
    latencies = [ms for r in results for ms in r[2]]
    return {
        "seconds": sent_s,
        "accepted": accepted,
        "refused": sum(r[1] for r in results),
        "accepted_per_s": accepted / sent_s,
        "stored_during_per_s": (at_end["stored"] - before["stored"]) / sent_s,
        "stored": stored,
        "duplicates": now["duplicate"] - before["duplicate"],
        "drained_s": drained_s,
        "stored_end_to_end_per_s": stored / drained_s,
        **_stream_lag(samples, sent_s),
        "request_p50_ms": percentile(latencies, 50),
        "request_p99_ms": percentile(latencies, 99),
        **_batch_writes(before, now, stored),
        "cpu_cores": cpu,
    }


def _pulse_processes(
    pulse: Pulse, extra_workers: list[subprocess.Popen[bytes]]
) -> dict[str, list[psutil.Process]]:
    """Pulse's processes by role: the web side (the supervisor and what is not a worker)
    and the workers, the bench's extra ones included."""
    supervisor = psutil.Process(pulse.process.pid)
    children = supervisor.children(recursive=True)
    workers = [p for p in children if "worker" in p.cmdline()]
    workers += [psutil.Process(p.pid) for p in extra_workers]
    webs = [supervisor] + [p for p in children if p not in workers]
    return {"web": webs, "worker": workers}


def _start_senders(
    pulse: Pulse, args: argparse.Namespace, key: str, start_at: float, out: Any
) -> list[multiprocessing.Process]:
    """Start the sender processes; each begins at `start_at` and reports into `out`."""
    per_sender = args.rate / args.senders if args.rate else 0.0
    procs = [
        multiprocessing.Process(
            target=sender,
            args=(i, pulse.url, key, args, per_sender, start_at, out),
        )
        for i in range(args.senders)
    ]
    for proc in procs:
        proc.start()
    return procs


def _wait_stored(
    pulse: Pulse, before: dict[str, Any], now: dict[str, Any], accepted: int
) -> dict[str, Any]:
    """Scrape until every accepted point is stored (or found a duplicate), for at most five
    minutes; the last scrape."""
    drain_deadline = time.monotonic() + 300
    while now["stored"] + now["duplicate"] - before["stored"] - before["duplicate"] < accepted:
        if time.monotonic() > drain_deadline:
            break
        time.sleep(0.2)
        now = scrape(pulse)
    return now


def _stream_lag(samples: list[tuple[float, ...]], sent_s: float) -> dict[str, Any]:
    """The ingest stream's lag and backlog while the senders were sending."""
    during = [s for s in samples if s[0] <= sent_s]
    lags = [s[1] for s in during]
    return {
        "lag_p50_s": percentile(lags, 50),
        "lag_p99_s": percentile(lags, 99),
        "lag_max_s": max(lags, default=float("nan")),
        "lag_at_end_s": lags[-1] if lags else float("nan"),
        "undelivered_max": max((s[2] for s in during), default=0),
        "pending_max": max((s[3] for s in during), default=0),
    }


def _batch_writes(before: dict[str, Any], now: dict[str, Any], stored: float) -> dict[str, Any]:
    """The worker's batch writes between two scrapes: how many, their size and latency."""
    buckets = {
        le: now["buckets"].get(le, 0.0) - before["buckets"].get(le, 0.0) for le in now["buckets"]
    }
    writes = now["writes"] - before["writes"]
    return {
        "batch_writes": writes,
        "points_per_write": stored / writes if writes else float("nan"),
        "write_p50_ms": bucket_quantile(buckets, 0.5) * 1000,
        "write_p99_ms": bucket_quantile(buckets, 0.99) * 1000,
        "write_mean_ms": (now["write_sum"] - before["write_sum"]) / writes * 1000
        if writes
        else float("nan"),
    }


def measure_plain(pulse: Pulse, points: int, batch: int, cap_s: float) -> dict[str, Any]:
    """Baseline: one INSERT per row into a copy of `points`, a commit every `batch` rows."""
    url = make_url(pulse.env["DATABASE_URL"]).set(drivername="postgresql")
    rng = random.Random(7)
    with psycopg.connect(url.render_as_string(hide_password=False)) as conn:
        conn.execute("CREATE TABLE bench_plain (LIKE points INCLUDING ALL)")
        conn.commit()
        sql = (
            "INSERT INTO bench_plain (tenant_id, data_id, source, metric_type, ts, value) "
            "VALUES (%s, %s, %s, %s, to_timestamp(%s), %s)"
        )
        commits: list[float] = []
        written = 0
        started = time.monotonic()
        deadline = started + cap_s
        with conn.cursor() as cur:
            while written < points and time.monotonic() < deadline:
                began = time.perf_counter()
                now = time.time()
                for _ in range(batch):
                    cur.execute(
                        sql,
                        (
                            "bench",
                            f"{written:032x}",
                            f"host-{rng.randrange(SOURCES)}",
                            f"bench.m{rng.randrange(METRICS)}",
                            now,
                            rng.random(),
                        ),
                    )
                    written += 1
                conn.commit()
                commits.append((time.perf_counter() - began) * 1000)
        elapsed = time.monotonic() - started
        conn.execute("DROP TABLE bench_plain")
        conn.commit()
    return {
        "rows": written,
        "seconds": elapsed,
        "rows_per_s": written / elapsed,
        "write_p50_ms": percentile(commits, 50),
        "write_p99_ms": percentile(commits, 99),
        "capped": written < points,
    }


def _arguments() -> argparse.Namespace:
    """The benchmark's options from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--senders", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1000, help="points per request")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="points per second in all; 0: as fast as possible"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (Pulse starts one; the bench adds the others)",
    )
    parser.add_argument(
        "--client-ids",
        action="store_true",
        help="JSON: send a data_id with every point (else none; Pulse stores them once per entry)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="json",
        help="json (POST /api/ingest), lp (line protocol, text/plain), rw (/api/v1/write)",
    )
    parser.add_argument(
        "--baseline-ref",
        default="main",
        help="git ref of the Pulse to run the same load against as today's path ('' skips)",
    )
    parser.add_argument(
        "--baseline-seconds", type=float, default=60.0, help="cap on the plain writer's time"
    )
    return parser.parse_args()


def _extra_workers(pulse: Pulse, count: int, root: Path) -> list[subprocess.Popen[bytes]]:
    """Start `count` more worker processes beside Pulse's own."""
    # More consumers in the writers' group, as a deployment would run them, counting
    # into the same metrics directory as Pulse's own worker.
    env = dict(pulse.env)
    for child in psutil.Process(pulse.process.pid).children(recursive=True):
        if "worker" in child.cmdline():
            env.update(
                {k: v for k, v in child.environ().items() if k == "PROMETHEUS_MULTIPROC_DIR"}
            )
    return [
        subprocess.Popen(
            [sys.executable, "app.py", "worker"],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


def _report_run(name: str, run: dict[str, Any]) -> None:
    """Print one Pulse's figures."""
    print(f"  {name}: load average {run['load_before']} → {run['load_after']}")
    print(
        f"    accepted at the API   {run['accepted_per_s']:10,.0f} points/s "
        f"({run['accepted']:,} points, {run['refused']:,} refused; request p50 "
        f"{run['request_p50_ms']:.1f} ms, p99 {run['request_p99_ms']:.1f} ms)"
    )
    print(f"    stored while sending  {run['stored_during_per_s']:10,.0f} points/s")
    print(
        f"    stored end to end     {run['stored_end_to_end_per_s']:10,.0f} points/s "
        f"(all {run['stored']:,.0f} stored {run['drained_s']:.1f} s after the start, "
        f"{run['duplicates']:,.0f} duplicates)"
    )
    print(
        f"    stream lag            p50 {run['lag_p50_s']:.2f} s  p99 {run['lag_p99_s']:.2f} s  "
        f"max {run['lag_max_s']:.2f} s  at end {run['lag_at_end_s']:.2f} s  (entries "
        f"undelivered max {run['undelivered_max']}, pending max {run['pending_max']})"
    )
    print(
        f"    batch write           p50 {run['write_p50_ms']:.0f} ms  p99 "
        f"{run['write_p99_ms']:.0f} ms  mean {run['write_mean_ms']:.0f} ms  "
        f"({run['batch_writes']:.0f} writes, {run['points_per_write']:,.0f} points each)"
    )
    cores = ", ".join(f"{k} {v:.2f}" for k, v in run["cpu_cores"].items())
    print(f"    CPU cores used: {cores}")


def _report(
    args: argparse.Namespace,
    runs: dict[str, dict[str, Any]],
    plain: dict[str, Any],
) -> None:
    """Print the results for a reader, then as one line of JSON."""
    rate = f"{args.rate:,.0f} points/s" if args.rate else "flat out"
    ids = "client data_ids" if args.client_ids else "no data_ids"
    if args.format != "json":
        ids = "ids from timestamps"
    print(
        f"\ningest ({args.format}), {args.workers} worker(s), {args.senders} senders, batches "
        f"of {args.batch}, {rate}, {ids}, {args.seconds:.0f} s"
    )
    for name, run in runs.items():
        _report_run(name, run)
    capped = " (capped by time)" if plain["capped"] else ""
    print(
        f"  baseline, one row per INSERT, commit per {args.batch} rows, no rollups: "
        f"{plain['rows_per_s']:,.0f} rows/s ({plain['rows']:,} rows in "
        f"{plain['seconds']:.1f} s{capped}); {args.batch}-row transaction p50 "
        f"{plain['write_p50_ms']:.0f} ms  p99 {plain['write_p99_ms']:.0f} ms"
    )
    print(json.dumps({"args": vars(args), "pulse": runs, "plain_baseline": plain}))


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_pulse(args: argparse.Namespace, root: Path, plain: bool) -> dict[str, Any]:
    """The load against the Pulse checked out at `root`; with `plain`, the one-row INSERT
    baseline after it, in the same database."""
    load_before = _load()
    with running_pulse(root=root) as pulse:
        extra = _extra_workers(pulse, args.workers - 1, root)
        try:
            time.sleep(3.0 if extra else 0.0)
            run = measure_pulse(pulse, args, extra)
        finally:
            for proc in extra:
                proc.terminate()
                proc.wait(15)
        run.update(load_before=load_before, load_after=_load())
        if plain:
            run["plain"] = measure_plain(
                pulse, int(run["stored"]), args.batch, args.baseline_seconds
            )
    return run


def main() -> None:
    args = _arguments()
    runs = {"this branch": run_pulse(args, ROOT, plain=True)}
    if args.baseline_ref:
        with checkout(args.baseline_ref) as root:
            runs[f"today's path ({args.baseline_ref})"] = run_pulse(args, root, plain=False)
    _report(args, runs, runs["this branch"].pop("plain"))


if __name__ == "__main__":
    main()
