"""Embed latency: ingest → embed /ws frame with `--embeds` embeds open, against as many
session-cookie dashboard sockets, in one run.

Each embed is a /ws client that authenticates as the embed page (app/web/embed_static/
embed.js) does: `ws://…/ws?token=<embed token>`, with the Origin of the embed page (Pulse's
own: the iframe's document comes from Pulse), then `{"type": "subscribe", "metrics": [its
live widgets' metric patterns], "sources": ["*"]}`. The tokens are minted through
`POST /api/embed-tokens` with a key of scope `embed` (`--tokens` of them, for a dashboard of
one live line widget; the embeds share them round-robin, as every viewer of an intranet page
shares its iframe's URL). Points go in at a steady `--rate` through `POST /api/ingest`, each
point's value its send time in ms, after one untimed warm-up second; every point of every
frame is timed on arrival, so the figure is ingest → frame on the embed's socket (a
browser's drawing is not included). The
baseline holds the same number of sockets opened with the analyst's session cookie and the
dashboard page's subscribe (assets/dashboards.js), fed the same way, one phase after the
other. Target: embed p99 ≤ 150 ms.

Usage:

    .venv/bin/python bench/embed_latency.py [--embeds 200] [--rate 200] [--seconds 20]

Pulse runs on DATABASE_URL / REDIS_URL when set, else on embedded servers (bench/harness.py).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from typing import Any

import requests
from harness import Pulse, percentile, running_pulse
from pages import (
    METRICS,
    cookie_header,
    create_dashboard,
    feed,
    hold_pages,
    sign_in,
    wait_opened,
)
from wsclients import now_ms

SUBSCRIBE = json.dumps({"type": "subscribe", "metrics": METRICS, "sources": ["*"]}).encode()
WIDGET = {
    "id": "live",
    "type": "line",
    "title": "Live",
    "query": {"metric": ["bench.*"], "source": [], "agg": "avg", "step": "auto"},
    "live": True,
    "layout": {"x": 0, "y": 0, "w": 12, "h": 6},
}
EMBED_SUBSCRIBE = json.dumps({"type": "subscribe", "metrics": ["bench.*"], "sources": ["*"]})


def embed_tokens(pulse: Pulse, board: str, count: int) -> list[str]:
    """`count` tokens of the dashboard, minted as a server mints them."""
    key = pulse.api_key("embed", "intranet")
    out = []
    for _ in range(count):
        resp = requests.post(
            pulse.url + "/api/embed-tokens",
            json={"resource": {"type": "dashboard", "dashboard_id": board}, "ttl_s": 3600},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        resp.raise_for_status()
        out.append(str(resp.json()["token"]))
    return out


def measure(
    pulse: Pulse, sockets: list[tuple[str, dict[str, str], list[bytes]]], args: Any, key: str
) -> dict[str, Any]:
    """Hold `sockets` while points flow; the latency of every point they receive."""
    opened, stop, results = (
        multiprocessing.Value("l", 0),
        multiprocessing.Event(),
        multiprocessing.Queue(),
    )
    holder = multiprocessing.Process(target=hold_pages, args=(sockets, True, opened, stop, results))
    holder.start()
    wait_opened(opened, len(sockets))
    time.sleep(2.0)  # every subscription in place
    sent = multiprocessing.Value("l", 0)
    # a warm-up second first: the first points' path (connections, caches) is not timed
    warm = (pulse.url, key, args.rate, args.batch, 1.0, multiprocessing.Value("l", 0))
    feeder = multiprocessing.Process(target=feed, args=warm)
    feeder.start()
    feeder.join()
    timed_from = now_ms()
    feeder = multiprocessing.Process(
        target=feed, args=(pulse.url, key, args.rate, args.batch, args.seconds, sent)
    )
    feeder.start()
    feeder.join()
    time.sleep(2.0)  # the last points arrive
    stop.set()
    seen = results.get(timeout=120)
    holder.join(30)
    latencies = [latency for at, latency in seen["latencies"] if at >= timed_from]
    return {
        "sockets": len(sockets),
        "points_sent": sent.value,
        "delivered": len(latencies),
        "expected": sent.value * len(sockets),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies, default=float("nan")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embeds", type=int, default=200, help="embed sockets open")
    parser.add_argument("--tokens", type=int, default=10, help="distinct embed tokens")
    parser.add_argument("--rate", type=int, default=200, help="points per second")
    parser.add_argument("--batch", type=int, default=10, help="points per ingest request")
    parser.add_argument("--seconds", type=float, default=20.0, help="of data flow per phase")
    args = parser.parse_args()
    limits = {"WS_MAX_SOCKETS_PER_USER": "100000", "WS_MAX_SOCKETS_PER_KEY": "100000"}
    with running_pulse(limits) as pulse:
        key = pulse.api_key("ingest", "feed")
        session = sign_in(pulse)
        board = create_dashboard(pulse, session, [WIDGET])
        tokens = embed_tokens(pulse, board, args.tokens)
        origin = {"Origin": pulse.url}
        embeds = [
            (f"{pulse.ws_url}?token={tokens[i % len(tokens)]}", origin, [EMBED_SUBSCRIBE.encode()])
            for i in range(args.embeds)
        ]
        cookie = {"Cookie": cookie_header(session), **origin}
        dashboards = [
            (f"{pulse.ws_url}?v=bench.{i}", cookie, [SUBSCRIBE]) for i in range(args.embeds)
        ]
        embed = measure(pulse, embeds, args, key)
        baseline = measure(pulse, dashboards, args, key)
    print(
        f"\nembed latency: {args.embeds} embeds open ({args.tokens} tokens), "
        f"{args.rate} points/s in batches of {args.batch}, {args.seconds:.0f} s a phase"
    )
    for name, f in (("embed", embed), ("session", baseline)):
        print(
            f"  {name:8} ingest → frame  p50 {f['p50_ms']:6.1f} ms  p99 {f['p99_ms']:6.1f} ms  "
            f"max {f['max_ms']:6.1f} ms  delivered {f['delivered']:,}/{f['expected']:,}"
        )
    print(f"  target embed p99 ≤ 150 ms: {'met' if embed['p99_ms'] <= 150 else 'NOT met'}")
    print(json.dumps({"embed": embed, "session_baseline": baseline}))


if __name__ == "__main__":
    main()
