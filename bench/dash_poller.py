"""The Dash norm for a live chart, as viewer_cost.py's baseline: a `dcc.Interval` of 1 s
whose callback runs one PostgreSQL query per poll (the last minute of the viewer's
series from Pulse's own `points` table) and returns a Plotly figure of them.

Served the way gunicorn serves it (2 pre-forked workers × 8 threads on one listening
socket), but by waitress, which the test lock already has: gunicorn is not in the locks,
and adding it would mean re-resolving them. Two forked processes each run waitress with
8 threads on the same socket the parent bound, which is gunicorn's model.

Viewers are simulated by one asyncio process: each holds a keep-alive HTTP/1.1 connection
and POSTs `/_dash-update-component` with the callback's payload once a second, as the
browser's renderer does (at most one request in flight per viewer; a late answer skips the
ticks it covered, as dcc.Interval does)."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import socket
import time
from typing import Any

import orjson

WINDOW_S = 60  # 4 series × 60 points: the 300-point figure of shared/MEASUREMENTS.md's norm
THREADS = 8
PROCESSES = 2
QUERY = """
SELECT source, ts, value FROM points
WHERE tenant_id = :tenant AND metric_type = :metric AND source = ANY(:sources)
  AND ts > now() - make_interval(secs => :window)
ORDER BY source, ts
"""


def build_app(database_url: str, tenant: str, metric: str, sources_of: list[list[str]]) -> Any:
    """The polling app: its layout and its one callback (group = which series a viewer sees)."""
    import dash
    import plotly.graph_objects as go
    from dash import Input, Output, State, dcc, html
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url, pool_size=THREADS, max_overflow=0)
    query = text(QUERY)
    app = dash.Dash(__name__)
    app.layout = html.Div(
        [
            dcc.Interval(id="tick", interval=1000),
            dcc.Store(id="group", data=0),
            dcc.Graph(id="chart"),
        ]
    )

    @app.callback(Output("chart", "figure"), Input("tick", "n_intervals"), State("group", "data"))
    def refresh(_ticks: int | None, group: int) -> Any:
        params = {"tenant": tenant, "metric": metric, "sources": sources_of[group]}
        with engine.connect() as conn:
            rows = conn.execute(query, {**params, "window": WINDOW_S}).fetchall()
        series: dict[str, tuple[list[Any], list[float]]] = {}
        for source, ts, value in rows:
            xs, ys = series.setdefault(source, ([], []))
            xs.append(ts)
            ys.append(value)
        figure = go.Figure([go.Scatter(x=xs, y=ys, name=s) for s, (xs, ys) in series.items()])
        figure.update_layout(uirevision="live", margin={"t": 20})
        return figure

    return app


def _serve(sock: socket.socket, app_args: tuple[Any, ...]) -> None:
    from waitress import serve

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "queue depth" under load
    app = build_app(*app_args)
    serve(app.server, sockets=[sock], threads=THREADS, connection_limit=5000, backlog=4096)


def start_app(app_args: tuple[Any, ...]) -> tuple[int, list[multiprocessing.Process]]:
    """Bind a loopback port, fork PROCESSES servers onto it; (port, their processes)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    context = multiprocessing.get_context("fork")
    procs = [context.Process(target=_serve, args=(sock, app_args)) for _ in range(PROCESSES)]
    for proc in procs:
        proc.start()
    port = int(sock.getsockname()[1])
    sock.close()
    _wait_listening(port)
    return port, procs


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"GET /_dash-layout HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if conn.recv(12).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError("the polling app did not answer within 60 s")


def update_request(port: int, group: int, ticks: int) -> bytes:
    """The browser's POST for one tick of the interval: what the renderer sends."""
    body = orjson.dumps(
        {
            "output": "chart.figure",
            "outputs": {"id": "chart", "property": "figure"},
            "inputs": [{"id": "tick", "property": "n_intervals", "value": ticks}],
            "changedPropIds": ["tick.n_intervals"],
            "state": [{"id": "group", "property": "data", "value": group}],
        }
    )
    head = (
        f"POST /_dash-update-component HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _viewer(port: int, group: int, offset: float, stop_at: float, answered: Any) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    loop = asyncio.get_running_loop()
    next_at, ticks = loop.time() + offset, 0
    while next_at < stop_at:
        await asyncio.sleep(max(0.0, next_at - loop.time()))
        ticks += 1
        writer.write(update_request(port, group, ticks))
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        if head.startswith(b"HTTP/1.1 200"):
            with answered.get_lock():
                answered.value += 1
        next_at = max(next_at + 1.0, loop.time())  # ticks missed while waiting are skipped
    writer.close()


def poll(port: int, viewers: int, groups: int, seconds: float, answered: Any) -> None:
    """Run `viewers` pollers for `seconds` (spread evenly over the second), in this process."""
    import uvloop

    async def run() -> None:
        stop_at = asyncio.get_running_loop().time() + seconds
        await asyncio.gather(
            *(_viewer(port, i % groups, i / viewers, stop_at, answered) for i in range(viewers))
        )

    uvloop.run(run())
