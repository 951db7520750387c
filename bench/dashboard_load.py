"""Dashboard load: a dashboard of 12 live widgets against the overview page, in one run.

(a) Page load in headless Chromium (selenium, as tests/browser drives it): from navigation
start to every widget drawn with data — each chart's figure holding points, each KPI a
number, the table its rows, the notifications widget its list — over `--loads` fresh
navigations of the signed-in analyst (one warm-up first, not counted); p50/p95 against the
overview page (`/overview`, every card's chart holding points) loaded the same way. Target: p95 ≤
1.5 s.

(b) Server CPU per second with `--pages` dashboard pages open against as many overview
pages, while `--rate` points a second flow in through the HTTP ingest API. The pages are
simulated, not 100 browsers: one real page load of each kind is recorded from Chromium's
network log (DevTools performance log), and each simulated page replays it with the same
session cookie — the GETs of the page, `/_dash-layout` and `/_dash-dependencies` (static
files are left out: a browser has them cached), then every POST to
`/_dash-update-component` the page made, in order, with the bodies the browser sent (the
route callback, then the dashboard's `load`, which reads every widget's history) — and
then opens the page's /ws socket(s) with the Cookie and Origin a browser sends, sending the
frames the page sent (its one `subscribe` of every live widget's metrics; the recorded
resume cursor is dropped, as a page that just loaded has a fresh one). Those sockets then
receive every live frame, as the pages would; what a browser does with a frame
(clientside callbacks) costs the server nothing and is not simulated. CPU is read with
psutil from the Pulse processes (web and stream in the app.py process tree, the worker),
PostgreSQL (backends on the run's database plus the WAL writer, checkpointer and
background writer, shared with anything else on the machine) and Redis/Valkey (likewise
shared); it is printed for the opening of the pages and per second while data flows.

Usage:

    .venv/bin/python bench/dashboard_load.py [--loads 20] [--pages 100] [--rate 200]
        [--seconds 20]

Pulse runs on DATABASE_URL / REDIS_URL when set, else on embedded servers (bench/harness.py).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import psutil
import requests
from harness import Pulse, cpu_seconds, percentile, running_pulse
from ingest import server_processes
from pages import (
    cookie_header,
    create_dashboard,
    feed,
    hold_pages,
    seed_history,
    sign_in,
    twelve_widgets,
    wait_opened,
)
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService

DASH_READY = """
const cards = Array.from(document.querySelectorAll('.pulse-dash-widget'));
if (cards.length < arguments[0]) return false;
const points = (gd) => !!(gd && gd.data && gd.data.some(
  (t) => (t.x && t.x.length) || (t.values && t.values.length) || (t.z && t.z.length)));
return cards.every((card) => {
  const graph = card.querySelector('.js-plotly-plot');
  if (graph) return points(graph);
  const kpi = card.querySelector('.pulse-dash-number');
  if (kpi) return kpi.textContent.trim() !== '—';
  const rows = card.querySelectorAll('tbody tr');
  if (card.classList.contains('pulse-dash-table')) return rows.length > 0;
  return card.querySelectorAll('li').length > 0;
});
"""
OVERVIEW_READY = """
const graphs = Array.from(document.querySelectorAll('#overview-body .js-plotly-plot'));
return graphs.length > 0 && graphs.every((gd) => gd.data && gd.data.some((t) => t.x && t.x.length));
"""
# polls the readiness check in the page itself; answers the ms since navigation start
WAIT_READY = """
const done = arguments[arguments.length - 1];
const ready = new Function(arguments[0]);
const arg = arguments[1];
(function check() {
  let ok = false;
  try { ok = ready.call(null, arg); } catch (e) { ok = false; }
  if (ok) { done(performance.now()); } else { setTimeout(check, 10); }
})();
"""


@dataclass
class Recorded:
    """What one page load did on the server's side: GETs, callback POSTs, sockets."""

    gets: list[str] = field(default_factory=list)
    posts: list[tuple[dict[str, str], str]] = field(default_factory=list)
    sockets: dict[str, tuple[str, list[bytes]]] = field(default_factory=dict)


def chromium() -> webdriver.Chrome:
    """Headless Chromium at 1280 px, logging its network events."""
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    # the system's chromedriver when there is one: selenium-manager would look online first
    found = shutil.which("chromedriver")
    service = ChromeService(executable_path=found) if found else None
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_script_timeout(60)
    return driver


def signed_in_browser(pulse: Pulse, session: requests.Session) -> webdriver.Chrome:
    driver = chromium()
    driver.get(pulse.url + "/login")
    for name, value in session.cookies.items():
        driver.add_cookie({"name": name, "value": value, "path": "/"})
    return driver


def load_ms(driver: webdriver.Chrome, url: str, ready: str, arg: Any = None) -> float:
    """One fresh navigation to `url`: ms from its start until `ready` holds."""
    driver.get("about:blank")
    driver.get(url)
    return float(driver.execute_async_script(WAIT_READY, ready, arg))


def record(driver: webdriver.Chrome, url: str, ready: str, arg: Any = None) -> Recorded:
    """Load `url` once more and read back from the network log what the page did."""
    driver.get("about:blank")
    driver.get_log("performance")  # drop what came before
    load_ms(driver, url, ready, arg)
    time.sleep(2.0)  # the socket opens and subscribes after the figures are drawn
    page_path = urlsplit(url).path
    out = Recorded()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        method, params = message["method"], message.get("params", {})
        if method == "Network.requestWillBeSent":
            _request(driver, params, page_path, out)
        elif method == "Network.webSocketCreated":
            out.sockets[params["requestId"]] = (params["url"], [])
        elif method == "Network.webSocketFrameSent" and params["requestId"] in out.sockets:
            out.sockets[params["requestId"]][1].append(_fresh(params["response"]["payloadData"]))
    return out


def _request(driver: webdriver.Chrome, params: dict[str, Any], page: str, out: Recorded) -> None:
    request = params["request"]
    parts = urlsplit(request["url"])
    if request["method"] == "POST" and parts.path == "/_dash-update-component":
        body = request.get("postData")
        if body is None:  # too long to be logged inline
            reply = driver.execute_cdp_cmd(
                "Network.getRequestPostData", {"requestId": params["requestId"]}
            )
            body = reply["postData"]
        headers = {k: v for k, v in request["headers"].items() if k.lower() != "cookie"}
        out.posts.append((headers, body))
    elif request["method"] == "GET" and parts.path in (
        page,
        "/_dash-layout",
        "/_dash-dependencies",
    ):
        out.gets.append(parts.path + (f"?{parts.query}" if parts.query else ""))


def _fresh(frame: str) -> bytes:
    """A sent frame as a page that just loaded sends it: without the recorded cursor."""
    try:
        doc = json.loads(frame)
    except ValueError:
        return frame.encode()
    if isinstance(doc, dict):
        doc.pop("cursor", None)
    return json.dumps(doc).encode()


def measure_loads(
    pulse: Pulse, session: requests.Session, board: str, args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, Recorded]]:
    """Load times of both pages (alternating, so both see the same machine), and one
    recorded load of each."""
    driver = signed_in_browser(pulse, session)
    pages = {
        "overview": (pulse.url + "/overview", OVERVIEW_READY, None),
        "dashboard": (f"{pulse.url}/dashboards/{board}", DASH_READY, 12),
    }
    try:
        times: dict[str, list[float]] = {name: [] for name in pages}
        for url, ready, arg in pages.values():
            load_ms(driver, url, ready, arg)  # warm-up: the browser's cache, Pulse's pools
        for _ in range(args.loads):
            for name, (url, ready, arg) in pages.items():
                times[name].append(load_ms(driver, url, ready, arg))
        recorded = {name: record(driver, *page) for name, page in pages.items()}
    finally:
        driver.quit()
    figures = {
        name: {"p50_ms": percentile(v, 50), "p95_ms": percentile(v, 95), "max_ms": max(v)}
        for name, v in times.items()
    }
    return figures, recorded


def open_pages(pulse: Pulse, session: requests.Session, page: Recorded, count: int) -> list[float]:
    """Replay `count` page loads, 8 at a time; each one's ms."""
    cookies = session.cookies.get_dict()

    def one(_: int) -> float:
        started = time.monotonic()
        with requests.Session() as http:
            http.cookies.update(cookies)
            for path in page.gets:
                http.get(pulse.url + path, timeout=60).raise_for_status()
            for headers, body in page.posts:
                resp = http.post(
                    pulse.url + "/_dash-update-component", data=body, headers=headers, timeout=60
                )
                if resp.status_code not in (200, 204):
                    raise RuntimeError(f"callback replay answered {resp.status_code}")
        return (time.monotonic() - started) * 1000

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def cpu_groups(pulse: Pulse) -> dict[str, list[psutil.Process]]:
    servers, workers = pulse.processes()
    return {"web+stream": servers, "worker": workers, **server_processes(pulse)}


def cpu_now(groups: dict[str, list[psutil.Process]]) -> dict[str, float]:
    return {name: cpu_seconds(group) for name, group in groups.items()}


def cpu_rate(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    """CPU seconds per second of each group, and their total."""
    out = {name: (after[name] - before[name]) / seconds for name in before}
    out["total"] = sum(out.values())
    return out


def measure_open(
    pulse: Pulse, session: requests.Session, page: Recorded, args: argparse.Namespace, key: str
) -> dict[str, Any]:
    """`--pages` simulated pages opened and held while data flows: CPU of the opening and
    per second of the flow, and the live frames the sockets received."""
    groups = cpu_groups(pulse)
    before, started = cpu_now(groups), time.monotonic()
    open_times = open_pages(pulse, session, page, args.pages)
    open_cpu = cpu_rate(before, cpu_now(groups), 1.0)  # CPU seconds spent, not a rate
    open_s = time.monotonic() - started
    headers = {"Cookie": cookie_header(session), "Origin": pulse.url}
    sockets = [(url, headers, sends) for url, sends in page.sockets.values()] * args.pages
    opened, stop, results = (
        multiprocessing.Value("l", 0),
        multiprocessing.Event(),
        multiprocessing.Queue(),
    )
    holder = multiprocessing.Process(
        target=hold_pages, args=(sockets, False, opened, stop, results)
    )
    holder.start()
    wait_opened(opened, len(sockets))
    time.sleep(2.0)  # every subscription in place
    sent = multiprocessing.Value("l", 0)
    feeder = multiprocessing.Process(
        target=feed, args=(pulse.url, key, args.rate, args.batch, args.seconds, sent)
    )
    before, started = cpu_now(groups), time.monotonic()
    feeder.start()
    feeder.join()
    flow = cpu_rate(before, cpu_now(groups), time.monotonic() - started)
    time.sleep(1.0)
    stop.set()
    frames = results.get(timeout=60)["frames"]
    holder.join(30)
    return {
        "open_s": open_s,
        "open_p50_ms": percentile(open_times, 50),
        "open_p95_ms": percentile(open_times, 95),
        "open_cpu_s": open_cpu,
        "sockets": len(sockets),
        "points_sent": sent.value,
        "frames_received": frames,
        "cpu_per_s": flow,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loads", type=int, default=20, help="page loads of each kind")
    parser.add_argument("--pages", type=int, default=100, help="simulated open pages")
    parser.add_argument("--rate", type=int, default=200, help="points per second")
    parser.add_argument("--batch", type=int, default=20, help="points per ingest request")
    parser.add_argument("--seconds", type=float, default=20.0, help="of data flow per page kind")
    args = parser.parse_args()
    limits = {"WS_MAX_SOCKETS_PER_USER": "100000", "WS_MAX_SOCKETS_PER_KEY": "100000"}
    with running_pulse(limits) as pulse:
        key = pulse.api_key("ingest", "feed")
        seed_history(pulse, key)
        session = sign_in(pulse)
        board = create_dashboard(pulse, session, twelve_widgets())
        loads, recorded = measure_loads(pulse, session, board, args)
        held = {
            name: measure_open(pulse, session, page, args, key) for name, page in recorded.items()
        }
    report(args, loads, recorded, held)


def report(
    args: argparse.Namespace,
    loads: dict[str, Any],
    recorded: dict[str, Recorded],
    held: dict[str, dict[str, Any]],
) -> None:
    print(f"\ndashboard load: 12 live widgets vs the overview, {args.loads} loads each")
    for name, f in loads.items():
        print(
            f"  {name:9} load to drawn  p50 {f['p50_ms']:7.0f} ms  p95 {f['p95_ms']:7.0f} ms"
            f"  max {f['max_ms']:7.0f} ms"
        )
    target = "met" if loads["dashboard"]["p95_ms"] <= 1500 else "NOT met"
    print(f"  target p95 ≤ 1500 ms: {target}")
    print(f"\n{args.pages} pages open, {args.rate} points/s for {args.seconds:.0f} s")
    for name, h in held.items():
        page = recorded[name]
        cpu = ", ".join(f"{k} {v:.3f}" for k, v in h["cpu_per_s"].items())
        opened = ", ".join(f"{k} {v:.2f}" for k, v in h["open_cpu_s"].items())
        print(
            f"  {name:9} replays {len(page.gets)} GETs + {len(page.posts)} callback POSTs,"
            f" {len(page.sockets)} socket(s) a page"
        )
        print(
            f"    opening {args.pages} pages: {h['open_s']:.1f} s (a page p50 "
            f"{h['open_p50_ms']:.0f} ms, p95 {h['open_p95_ms']:.0f} ms); CPU s: {opened}"
        )
        print(f"    CPU cores while data flows: {cpu}")
        print(
            f"    {h['frames_received']:,} frames to {h['sockets']} sockets"
            f" ({h['points_sent']:,} points sent)"
        )
    base, dash = held["overview"]["cpu_per_s"]["total"], held["dashboard"]["cpu_per_s"]["total"]
    print(
        f"  dashboard / overview CPU while data flows: {dash / base if base else float('nan'):.2f}×"
    )
    print(json.dumps({"loads": loads, "held": held}))


if __name__ == "__main__":
    main()
