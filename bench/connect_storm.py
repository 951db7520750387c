"""Reconnect storm: N viewers open /ws at once (after a deploy or a network blip), then at a rate.

Each socket signs in like a browser (a session cookie; a share with `?token=`), subscribes
with the cursor it had (a resume: one XRANGE each), then waits for the next point. Per
scenario it prints accepted / refused / errors, handshake p50/p99, the time until every
socket has the next point, and the gateway's RSS. The baseline runs the same storms against
Pulse as it was before issue 9 (`--baseline-ref`, checked out into a temporary directory):
one pooled Redis connection per handshake and per resume, from redis-py's default pool,
which answers 500 once its 100 connections are busy. Usage:

    .venv/bin/python bench/connect_storm.py [--sockets 1500] [--rate 400] [--no-baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import secrets
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import requests
import uvloop
from harness import ROOT, Pulse, percentile, running_pulse
from picows import WSFrame, WSInvalidStatusError, WSListener, WSMsgType, WSTransport, ws_connect
from redis import Redis

METRIC = "storm.load"
MISSED = -1.0  # the value of the point published before the storm: each socket resumes it
WAIT_S = 120.0  # for handshakes and for the next point: a storm's cost shows, not a timeout
BEFORE_ISSUE_9 = "d636220"  # the gateway with redis-py's default, non-blocking pool


class StormListener(WSListener):
    """One viewer: resumes from the cursor on connect, then notes when the live point lands."""

    def __init__(self, cursor: str, seen: dict[str, Any]) -> None:
        self.cursor, self.seen = cursor, seen

    def on_ws_connected(self, transport: WSTransport) -> None:
        subscribe = {"type": "subscribe", "metrics": ["storm.*"], "cursor": self.cursor}
        transport.send(WSMsgType.TEXT, orjson.dumps(subscribe))
        # Unknown messages are answered with an error, in order: the receipt of the subscribe.
        transport.send(WSMsgType.TEXT, b'{"type": "are-you-there"}')

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type != WSMsgType.TEXT:
            return
        message = orjson.loads(frame.get_payload_as_bytes())
        if message["type"] == "error":
            self.seen["subscribed"] = True
        elif message["type"] == "points":
            for p in message["points"]:
                if p["value"] == MISSED:
                    self.seen["resumed"] = True
                elif "live_at" not in self.seen:
                    self.seen["live_at"] = time.time() * 1000

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.seen.get("leaving"):
            self.seen["dropped"] = True  # closed by the gateway, e.g. a failed resume


async def open_viewer(
    url: str, headers: dict[str, str], cursor: str, delay: float, seen: dict[str, Any]
) -> WSTransport | None:
    """Open one socket after `delay` s; note its handshake time or why it failed."""
    await asyncio.sleep(delay)
    started = time.monotonic()
    try:
        transport, _ = await ws_connect(
            lambda: StormListener(cursor, seen),
            url,
            extra_headers=headers,
            websocket_handshake_timeout=WAIT_S,
        )
    except WSInvalidStatusError as exc:
        seen["outcome"] = f"refused {getattr(exc.response, 'status', '?')}"
        return None
    except Exception as exc:
        seen["outcome"] = f"error {type(exc).__name__}"
        return None
    seen["outcome"] = "accepted"
    seen["handshake_ms"] = (time.monotonic() - started) * 1000
    return transport


def viewers_process(
    ws_url: str,
    credentials: list[dict[str, str]],
    cursor: str,
    rate: float,
    ready: Any,
    done: Any,
    results: Any,
) -> None:
    """Open every viewer's socket (all at once, or `rate` a second); hold them until `done`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # one descriptor per socket

    async def main() -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = [{} for _ in credentials]
        opening = []
        for i, credential in enumerate(credentials):
            url = ws_url + (f"?token={credential['token']}" if "token" in credential else "")
            headers = {"Origin": credential["origin"]}
            if "cookie" in credential:
                headers["Cookie"] = credential["cookie"]
            delay = i / rate if rate else 0.0
            opening.append(open_viewer(url, headers, cursor, delay, seen[i]))
        transports = [t for t in await asyncio.gather(*opening) if t is not None]
        live = [s for s in seen if s["outcome"] == "accepted"]
        await until(lambda: all(s.get("subscribed") or s.get("dropped") for s in live))
        ready.set()
        await until(lambda: all("live_at" in s or s.get("dropped") for s in live))
        while not done.is_set():
            await asyncio.sleep(0.1)
        for s in seen:
            s["leaving"] = True
        for transport in transports:
            transport.disconnect()
        return seen

    results.put(uvloop.run(main()))


async def until(condition: Any) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


class Viewers:
    """The credentials a storm's sockets present, and the keys that feed them."""

    def __init__(self, pulse: Pulse, sockets: int, sessions: int, token_share: float) -> None:
        self.ingest_key = pulse.api_key("ingest", "storm-ingest")
        read_key = pulse.api_key("read", "storm-read")
        password = secrets.token_hex(8)
        users = [f"viewer{i}" for i in range(max(1, sessions // 10))]
        for username in users:
            pulse.admin(
                "create-user",
                "--tenant",
                "bench",
                "--username",
                username,
                "--email",
                f"{username}@bench.example",
                "--role",
                "viewer",
                stdin=password + "\n",
            )
        with ThreadPoolExecutor(4) as pool:  # sign-ins cost an argon2 check each
            cookies = list(
                pool.map(lambda i: sign_in(pulse, users[i % len(users)], password), range(sessions))
            )
        tokens = [pulse.stream_token(read_key) for _ in range(3)]
        by_token = round(sockets * token_share)
        self.credentials = [
            {"cookie": cookies[i % len(cookies)], "origin": pulse.url}
            for i in range(sockets - by_token)
        ] + [{"token": tokens[i % len(tokens)], "origin": pulse.url} for i in range(by_token)]


def sign_in(pulse: Pulse, username: str, password: str) -> str:
    """A Cookie header of a fresh session, as the browser gets it from POST /login."""
    with requests.Session() as http:
        resp = http.post(
            pulse.url + "/login", json={"username": username, "password": password}, timeout=30
        )
        resp.raise_for_status()
        return "; ".join(f"{name}={value}" for name, value in http.cookies.items())


def publish(pulse: Pulse, key: str, value: float) -> None:
    """Ingest one point over HTTP; its value is its send time in ms (or MISSED)."""
    point = {"source": "s1", "metric_type": METRIC, "timestamp": time.time(), "value": value}
    resp = requests.post(
        pulse.url + "/api/ingest",
        json=[point],
        timeout=10,
        headers={"Authorization": f"Bearer {key}"},
    )
    resp.raise_for_status()


def publish_missed(pulse: Pulse, key: str) -> str:
    """Publish the point the viewers missed while away; the cursor they had before it."""
    redis = Redis.from_url(pulse.env["REDIS_URL"])
    live_key = f"{pulse.env['REDIS_PREFIX']}live:bench"

    def newest() -> str:
        entries = redis.xrevrange(live_key, count=1)
        return entries[0][0].decode() if entries else "0-0"

    cursor = newest()
    publish(pulse, key, MISSED)
    deadline = time.monotonic() + 30
    while newest() == cursor and time.monotonic() < deadline:
        time.sleep(0.05)
    redis.close()
    return cursor


def storm(pulse: Pulse, viewers: Viewers, rate: float) -> dict[str, Any]:
    """Open every viewer's socket, resume, publish the next point; what the viewers saw."""
    cursor = publish_missed(pulse, viewers.ingest_key)
    rss_before = pulse.server_rss_mib()
    ready, done, results = multiprocessing.Event(), multiprocessing.Event(), multiprocessing.Queue()
    started = time.monotonic()
    process = multiprocessing.Process(
        target=viewers_process,
        args=(pulse.ws_url, viewers.credentials, cursor, rate, ready, done, results),
    )
    process.start()
    ready.wait(2 * WAIT_S)
    all_open_s = time.monotonic() - started
    rss_open = pulse.server_rss_mib()
    stamp = time.time() * 1000
    publish(pulse, viewers.ingest_key, stamp)
    time.sleep(0.5)
    done.set()
    seen = results.get(timeout=2 * WAIT_S)
    process.join(30)
    time.sleep(2.0)  # let the gateway drop the closed sockets before the next storm
    accepted = [s for s in seen if s["outcome"] == "accepted"]
    arrivals = [s["live_at"] - stamp for s in accepted if "live_at" in s]
    handshakes = [s["handshake_ms"] for s in accepted]
    return {
        "outcomes": dict(Counter(s["outcome"] for s in seen)),
        "handshake_p50_ms": percentile(handshakes, 50),
        "handshake_p99_ms": percentile(handshakes, 99),
        "all_open_s": all_open_s,
        "resumed": sum(1 for s in accepted if s.get("resumed")),
        "dropped": sum(1 for s in accepted if s.get("dropped")),
        "received_next": len(arrivals),
        "accepted": len(accepted),
        "next_point_p50_ms": percentile(arrivals, 50),
        "next_point_all_ms": max(arrivals, default=float("nan")),
        "gateway_rss_mib": rss_open,
        "gateway_rss_growth_mib": rss_open - rss_before,
    }


@contextmanager
def checkout(ref: str) -> Iterator[Path]:
    """The repository's files at `ref`, in a temporary directory (no worktree, no .git)."""
    archive = subprocess.run(
        ["git", "archive", ref], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tempfile.TemporaryDirectory(prefix="pulse-baseline-") as directory:
        subprocess.run(["tar", "-x", "-C", directory], input=archive, check=True)
        yield Path(directory)


def run_config(args: argparse.Namespace, root: Path = ROOT) -> dict[str, Any]:
    """Both storms (at once, then at --rate) on one Pulse, the one checked out at `root`."""
    with running_pulse(root=root) as pulse:
        viewers = Viewers(pulse, args.sockets, args.sessions, args.token_share)
        return {
            "at once": storm(pulse, viewers, 0.0),
            f"{args.rate:g}/s": storm(pulse, viewers, args.rate),
        }


def report(name: str, scenarios: dict[str, Any], sockets: int) -> None:
    print(f"\n{name}: {sockets} sockets")
    for scenario, r in scenarios.items():
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items()))
        print(
            f"  {scenario:>8}: {outcomes}; handshake p50 {r['handshake_p50_ms']:.0f} ms "
            f"p99 {r['handshake_p99_ms']:.0f} ms; all open and resumed after "
            f"{r['all_open_s']:.1f} s (resumed {r['resumed']}/{r['accepted']}, closed by the "
            f"gateway {r['dropped']}); next point on "
            f"{r['received_next']}/{r['accepted']}: p50 {r['next_point_p50_ms']:.0f} ms, all "
            f"{r['next_point_all_ms']:.0f} ms; gateway RSS {r['gateway_rss_mib']:.0f} MiB "
            f"(+{r['gateway_rss_growth_mib']:.0f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sockets", type=int, default=1500)
    parser.add_argument("--rate", type=float, default=400, help="sockets a second, 2nd storm")
    parser.add_argument("--sessions", type=int, default=100, help="distinct sign-in sessions")
    parser.add_argument("--token-share", type=float, default=0.2, help="share with ?token=")
    parser.add_argument(
        "--baseline-ref", default=BEFORE_ISSUE_9, help="git commit of the baseline gateway"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the baseline's run")
    args = parser.parse_args()
    results = {"gateway": run_config(args)}
    report("gateway (this checkout)", results["gateway"], args.sockets)
    if not args.no_baseline:
        with checkout(args.baseline_ref) as old_pulse:
            results["baseline"] = run_config(args, old_pulse)
        report(
            f"baseline: the gateway at {args.baseline_ref}, before issue 9",
            results["baseline"],
            args.sockets,
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
