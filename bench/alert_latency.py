"""Alert latency: a breaching point's ingest request → its notification on the user's /ws.

A tenant with one analyst (the recipient) signed in (POST /login) and holding `--sockets`
/ws clients (picows, opened with a stream token of the session: notifications are per
user). 100 threshold rules (`bench.alert.m{0..99}`, source `*`, above 80, for_s 0,
in_app). Background: `--background` points/s of values under the threshold on the same
metrics (10 sources each, so every batch is judged against the rules). Then `--breaches`
single-point ingest requests at `--rate` a second, each on a fresh series (source `b-{i}`),
so each opens its own incident. Latency is from just before the ingest request to the
notification frame's arrival; duplicates are a series notified twice on one socket (and,
in the database, twice for the user). Baseline in the same run: the same user polling
`GET /api/notifications` once a second, as a client without WebSockets would. Usage:

    .venv/bin/python bench/alert_latency.py [--breaches 2000] [--rate 40] [--background 1000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import secrets
import threading
import time
import uuid
from collections import Counter
from typing import Any

import orjson
import requests
import uvloop
from harness import Pulse, cpu_seconds, percentile, running_pulse
from redis import Redis
from sqlalchemy import create_engine, text
from wsclients import MessageListener, hold_sockets, now_ms

TENANT = "alertbench"
USER = "alert-analyst"
RULES = 100
THRESHOLD = 80.0
METRIC = "bench.alert.m{}"


# -- the /ws clients (their own process, so that nothing else holds their event loop) -------


class NoticeListener(MessageListener):
    """One socket of the recipient: notes when each notification frame arrives."""

    prefix = b'{"type":"notification"'

    def __init__(
        self, index: int, seen: list[tuple[int, float, str, str, str]], opened: Any, received: Any
    ) -> None:
        super().__init__(opened)
        self.index, self.seen, self.received = index, seen, received

    def on_message(self, raw: bytes, arrived: float) -> None:
        note = orjson.loads(raw)["notification"]
        self.seen.append((self.index, arrived, note["source"], note["incident_id"], note["state"]))
        if self.index == 0:
            with self.received.get_lock():
                self.received.value += 1


def client_process(
    url: str, sockets: int, opened: Any, received: Any, stop: Any, results: Any
) -> None:
    seen: list[tuple[int, float, str, str, str]] = []
    listeners = [lambda *_, i=i: NoticeListener(i, seen, opened, received) for i in range(sockets)]
    uvloop.run(hold_sockets(url, listeners, stop, 16 * 1024 * 1024))
    results.put(seen)


def redis_tap(redis_url: str, prefix: str, stop: Any, results: Any) -> None:
    """Where the time goes: when each breach's point is published on the tenant's live
    channel (stream → PostgreSQL commit → live store) and when its notification is
    published on the notice channel (after evaluation and its transaction), both before
    the gateway."""
    redis = Redis.from_url(redis_url)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    points_channel, notice_channel = f"{prefix}chan:{TENANT}", f"{prefix}notice:{TENANT}"
    pubsub.subscribe(points_channel, notice_channel)
    published: dict[str, float] = {}
    noticed: dict[str, float] = {}
    while not stop.is_set():
        message = pubsub.get_message(timeout=0.2)
        if not message:
            continue
        arrived = now_ms()
        channel = message["channel"].decode()
        if channel == points_channel:
            if b'"b-' in message["data"]:
                for p in orjson.loads(message["data"])["points"]:
                    published.setdefault(p["source"], arrived)
        elif channel == notice_channel:
            for doc in orjson.loads(message["data"])["users"].values():
                noticed.setdefault(doc["notification"]["source"], arrived)
    pubsub.close()
    results.put((published, noticed))


# -- the senders -----------------------------------------------------------------------------


def background(url: str, key: str, rate: int, stop: Any, sent: Any) -> None:
    """`rate` points a second under the threshold, 100 metrics × 10 sources, in batches of
    100 every 0.1 s."""
    session = requests.Session()
    session.headers.update(Authorization=f"Bearer {key}", **{"Content-Type": "application/json"})
    batch = max(1, rate // 10)
    next_at = time.monotonic()
    n = 0
    while not stop.is_set():
        stamp = now_ms() / 1000
        points = [
            {
                "data_id": uuid.uuid4().hex,
                "source": f"bg-{(n + i) // RULES % 10}",
                "metric_type": METRIC.format((n + i) % RULES),
                "timestamp": stamp,
                "value": 50.0,
            }
            for i in range(batch)
        ]
        n += batch
        session.post(url + "/api/ingest", data=orjson.dumps(points), timeout=10).raise_for_status()
        sent.value += batch
        next_at += batch / rate
        time.sleep(max(0.0, next_at - time.monotonic()))


def breaches(url: str, key: str, count: int, rate: float, results: Any) -> None:
    """One breaching point per request, each on a new series; report send times and the
    requests' own durations."""
    session = requests.Session()
    session.headers.update(Authorization=f"Bearer {key}", **{"Content-Type": "application/json"})
    sent_at: dict[str, float] = {}
    request_ms: list[float] = []
    next_at = time.monotonic()
    for i in range(count):
        source = f"b-{i}"
        stamp = now_ms()
        point = [
            {
                "data_id": uuid.uuid4().hex,
                "source": source,
                "metric_type": METRIC.format(i % RULES),
                "timestamp": stamp / 1000,
                "value": THRESHOLD + 10 + i % 7,
            }
        ]
        session.post(url + "/api/ingest", data=orjson.dumps(point), timeout=10).raise_for_status()
        request_ms.append(now_ms() - stamp)
        sent_at[source] = stamp
        next_at += 1 / rate
        time.sleep(max(0.0, next_at - time.monotonic()))
    results.put((sent_at, request_ms))


def poller(
    session: requests.Session, url: str, stop: threading.Event, first_seen: dict[str, float]
) -> None:
    """Baseline: GET /api/notifications once a second (unread first, newest first)."""
    while not stop.is_set():
        started = time.monotonic()
        doc = session.get(url + "/api/notifications", params={"limit": 200}, timeout=10).json()
        shown = now_ms()
        for note in doc["notifications"]:
            first_seen.setdefault(note["source"], shown)
        stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))


def commit_probe(database_url: str, stop: threading.Event, out: list[float]) -> None:
    """How long a one-row commit takes on the shared PostgreSQL meanwhile (5 a second): the
    worker records each transition in its own transaction, so this is its floor."""
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bench_probe (at timestamptz)"))
    while not stop.wait(0.2):
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO bench_probe VALUES (now())"))
        out.append((time.perf_counter() - started) * 1000)
    engine.dispose()


# -- set-up and the run ----------------------------------------------------------------------


def sign_in(pulse: Pulse) -> requests.Session:
    password = secrets.token_hex(12)
    pulse.admin(
        "create-user",
        "--tenant",
        TENANT,
        "--username",
        USER,
        "--email",
        "alert-analyst@example.com",
        "--role",
        "analyst",
        stdin=password,
    )
    session = requests.Session()
    session.post(
        pulse.url + "/login", json={"username": USER, "password": password}, timeout=10
    ).raise_for_status()
    return session


def create_rules(pulse: Pulse, session: requests.Session) -> None:
    for m in range(RULES):
        rule = {
            "name": f"bench m{m} above {THRESHOLD:g}",
            "metric": METRIC.format(m),
            "source": "*",
            "kind": "threshold",
            "op": ">",
            "threshold": THRESHOLD,
            "for_s": 0,
            "cooldown_s": 0,
            "severity": "warning",
            "channels": ["in_app"],
        }
        session.post(pulse.url + "/api/alerts", json=rule, timeout=10).raise_for_status()


def db_counts(pulse: Pulse) -> dict[str, int]:
    """What PostgreSQL holds for the tenant: incidents, notifications, and series with more
    than one of either (duplicates)."""
    engine = create_engine(pulse.env["DATABASE_URL"])
    with engine.connect() as conn:
        row = conn.execute(
            text(
                """
            SELECT (SELECT count(*) FROM incidents WHERE tenant_id = :t AND source LIKE 'b-%'),
                   (SELECT count(*) FROM notifications WHERE tenant_id = :t
                      AND source LIKE 'b-%'),
                   (SELECT count(*) FROM (SELECT source FROM incidents WHERE tenant_id = :t
                      AND source LIKE 'b-%' GROUP BY source HAVING count(*) > 1) d),
                   (SELECT count(*) FROM (SELECT source FROM notifications WHERE tenant_id = :t
                      AND source LIKE 'b-%' GROUP BY user_id, source HAVING count(*) > 1) d)
            """
            ),
            {"t": TENANT},
        ).one()
    engine.dispose()
    return {
        "incidents": row[0],
        "notifications": row[1],
        "duplicate_incidents": row[2],
        "duplicate_notifications": row[3],
    }


# A benchmark's procedure: processes started, measured and stopped in the order they run.
# long: it reads best top to bottom, as it runs (PLR0915 allowed for the same reason)
def run(pulse: Pulse, args: argparse.Namespace) -> dict[str, Any]:  # noqa: PLR0915
    session = sign_in(pulse)
    create_rules(pulse, session)
    ingest_key = pulse.api_key("ingest", "in", TENANT)
    token = session.get(pulse.url + "/api/stream-token", timeout=5).json()["token"]
    web, workers = pulse.processes()

    opened, received = multiprocessing.Value("l", 0), multiprocessing.Value("l", 0)
    stop_clients, client_results = multiprocessing.Event(), multiprocessing.Queue()
    clients = multiprocessing.Process(
        target=client_process,
        args=(
            f"{pulse.ws_url}?token={token}",
            args.sockets,
            opened,
            received,
            stop_clients,
            client_results,
        ),
    )
    clients.start()
    deadline = time.monotonic() + 30
    while opened.value < args.sockets and time.monotonic() < deadline:
        time.sleep(0.1)
    if opened.value < args.sockets:
        raise RuntimeError(f"only {opened.value} of {args.sockets} sockets opened")

    stop_background, bg_sent = multiprocessing.Event(), multiprocessing.Value("l", 0)
    feeder = multiprocessing.Process(
        target=background, args=(pulse.url, ingest_key, args.background, stop_background, bg_sent)
    )
    feeder.start()
    time.sleep(args.warmup)  # the rule cache loaded, the background flowing

    stop_tap, tap_results = multiprocessing.Event(), multiprocessing.Queue()
    tap = multiprocessing.Process(
        target=redis_tap,
        args=(pulse.env["REDIS_URL"], pulse.env["REDIS_PREFIX"], stop_tap, tap_results),
    )
    tap.start()
    first_polled: dict[str, float] = {}
    stop_poll = threading.Event()
    polling = threading.Thread(target=poller, args=(session, pulse.url, stop_poll, first_polled))
    polling.start()
    commits: list[float] = []
    probing = threading.Thread(
        target=commit_probe, args=(pulse.env["DATABASE_URL"], stop_poll, commits)
    )
    probing.start()
    cpu_before = {"web+gateway": cpu_seconds(web), "worker": cpu_seconds(workers)}
    bg_before = bg_sent.value
    sender_results: Any = multiprocessing.Queue()
    sender = multiprocessing.Process(
        target=breaches, args=(pulse.url, ingest_key, args.breaches, args.rate, sender_results)
    )
    started = time.monotonic()
    sender.start()
    sent_at, request_ms = sender_results.get(timeout=args.breaches / args.rate * 3 + 120)
    sender.join()
    elapsed = time.monotonic() - started
    cpu = {
        name: (cpu_seconds(group) - cpu_before[name]) / elapsed
        for name, group in (("web+gateway", web), ("worker", workers))
    }
    background_rate = (bg_sent.value - bg_before) / elapsed
    deadline = time.monotonic() + args.drain
    while received.value < args.breaches and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.5)  # a last poll, and any duplicate arriving late
    stop_poll.set()
    polling.join()
    probing.join()
    stop_background.set()
    feeder.join()
    stop_clients.set()
    seen = client_results.get(timeout=60)
    clients.join(30)
    stop_tap.set()
    published, noticed = tap_results.get(timeout=60)
    tap.join(30)

    firsts, latencies, windows = _first_arrivals(seen, sent_at)
    per_socket = Counter((index, source) for index, _, source, _, _ in seen)
    duplicates = sum(n - 1 for n in per_socket.values() if n > 1)
    unknown = sum(1 for _, _, source, _, _ in seen if source not in sent_at)
    per_socket_missing = [
        sum(1 for s in sent_at if (i, s) not in per_socket) for i in range(args.sockets)
    ]
    stages = _stages(sent_at, published, noticed, firsts)
    polled = [first_polled[s] - sent_at[s] for s in sent_at if s in first_polled]
    return {
        "breaches_sent": len(sent_at),
        "breach_rate": len(sent_at) / elapsed,
        "background_rate": background_rate,
        "sockets": args.sockets,
        "frames_received": len(seen),
        "notified_socket0": len(firsts),
        "missing_per_socket": per_socket_missing,
        "duplicates": duplicates,
        "unknown": unknown,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies, default=float("nan")),
        "over_1s": sum(1 for v in latencies if v > 1000),
        "ingest_request_p50_ms": percentile(request_ms, 50),
        "ingest_request_p99_ms": percentile(request_ms, 99),
        "poll_samples": len(polled),
        "poll_p50_ms": percentile(polled, 50),
        "poll_p95_ms": percentile(polled, 95),
        "poll_p99_ms": percentile(polled, 99),
        "poll_max_ms": max(polled, default=float("nan")),
        "commit_p50_ms": percentile(commits, 50),
        "commit_p99_ms": percentile(commits, 99),
        "cpu_cores": cpu,
        "db": db_counts(pulse),
        "stages_ms": stages,
        "p99_by_10s": [round(percentile(windows[w], 99)) for w in sorted(windows)],
        "max_by_10s": [round(max(windows[w])) for w in sorted(windows)],
    }


def _first_arrivals(
    seen: list[Any], sent_at: dict[str, float]
) -> tuple[dict[str, float], list[float], dict[int, list[float]]]:
    """On socket 0, when each breach first arrived, its latency, and the latencies by 10 s
    of the run (does it drift?)."""
    latencies: list[float] = []
    firsts: dict[str, float] = {}
    windows: dict[int, list[float]] = {}
    t0 = min(sent_at.values(), default=0.0)
    for index, arrived, source, _, _ in seen:
        if index == 0 and source in sent_at and source not in firsts:
            firsts[source] = arrived
            latencies.append(arrived - sent_at[source])
            windows.setdefault(int((sent_at[source] - t0) // 10_000), []).append(latencies[-1])
    return firsts, latencies, windows


def _stages(
    sent_at: dict[str, float],
    published: dict[str, float],
    noticed: dict[str, float],
    firsts: dict[str, float],
) -> dict[str, dict[str, float]]:
    """Where the time goes: ingest to points published, to the notification published, to
    the /ws client (p50, p99 and max in ms)."""
    to_published = [published[s] - sent_at[s] for s in sent_at if s in published]
    to_noticed = [noticed[s] - published[s] for s in sent_at if s in noticed and s in published]
    to_socket = [firsts[s] - noticed[s] for s in sent_at if s in firsts and s in noticed]
    return {
        name: {
            "p50": round(percentile(v, 50), 1),
            "p99": round(percentile(v, 99), 1),
            "max": round(max(v, default=float("nan")), 1),
        }
        for name, v in (
            ("ingest→points published", to_published),
            ("→notification published", to_noticed),
            ("→/ws client", to_socket),
        )
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--breaches", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=40.0, help="breaches per second")
    parser.add_argument("--background", type=int, default=1000, help="points per second")
    parser.add_argument("--sockets", type=int, default=2, help="/ws clients of the user")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of background first")
    parser.add_argument(
        "--drain", type=float, default=20.0, help="seconds to wait for the last notifications"
    )
    args = parser.parse_args()
    with running_pulse() as pulse:
        r = run(pulse, args)
    print(
        f"\nalert latency: {RULES} threshold rules, {r['background_rate']:.0f} points/s "
        f"background, {r['breaches_sent']:,} breaches at {r['breach_rate']:.1f}/s, "
        f"{r['sockets']} /ws sockets of the recipient"
    )
    print(
        f"  notified (socket 0) {r['notified_socket0']:,}/{r['breaches_sent']:,}  "
        f"missing per socket {r['missing_per_socket']}  duplicates {r['duplicates']}  "
        f"unknown {r['unknown']}"
    )
    print(
        f"  ingest request → /ws notification: p50 {r['p50_ms']:.1f} ms  "
        f"p95 {r['p95_ms']:.1f} ms  p99 {r['p99_ms']:.1f} ms  max {r['max_ms']:.1f} ms  "
        f"(> 1 s: {r['over_1s']})"
    )
    print(f"  p99 by 10 s of the run (ms): {r['p99_by_10s']}")
    print(
        "  stages (ms): "
        + "; ".join(
            f"{k} p50 {v['p50']} p99 {v['p99']} max {v['max']}" for k, v in r["stages_ms"].items()
        )
    )
    print(
        f"  the ingest request itself: p50 {r['ingest_request_p50_ms']:.1f} ms  "
        f"p99 {r['ingest_request_p99_ms']:.1f} ms"
    )
    print(
        f"  baseline, polling GET /api/notifications every 1 s ({r['poll_samples']:,} "
        f"breaches seen): p50 {r['poll_p50_ms']:.1f} ms  p95 {r['poll_p95_ms']:.1f} ms  "
        f"p99 {r['poll_p99_ms']:.1f} ms  max {r['poll_max_ms']:.1f} ms"
    )
    print(
        f"  a one-row commit on PostgreSQL meanwhile: p50 {r['commit_p50_ms']:.1f} ms  "
        f"p99 {r['commit_p99_ms']:.1f} ms"
    )
    print("  CPU cores used: " + ", ".join(f"{k} {v:.2f}" for k, v in r["cpu_cores"].items()))
    print(f"  PostgreSQL: {r['db']}")
    print(json.dumps(r))


if __name__ == "__main__":
    main()
