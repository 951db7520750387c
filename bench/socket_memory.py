"""Memory per /ws socket: Pulse's gateway against the bare server stack it runs on.

Opens `--sockets` idle picows clients, first to a bare Starlette endpoint under uvicorn
(accept, then wait on receive: no Pulse code) for each WebSocket implementation uvicorn
offers, then to Pulse's /ws (subscribed to a few series that get no point), and prints the
server process's RSS growth per socket. The bare rows are the floor the stack sets: the
issue 14 target (≤ 20 KiB per connection) is judged against them.

Usage (the machine's PostgreSQL and Redis from the environment, or the embedded ones):

    DATABASE_URL=… REDIS_URL=… .venv/bin/python bench/socket_memory.py [--sockets 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from typing import Any

import psutil
from harness import free_port, rss_mib, running_pulse
from picows import WSListener, ws_connect

IMPLEMENTATIONS = ("websockets-sansio", "wsproto")  # Pulse runs the first (app/cli.py)

# The bare endpoint, run as `python -c` so that nothing of Pulse is imported into it.
BARE_SERVER = """
import sys, uvicorn
from starlette.websockets import WebSocket

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = "startup" if message["type"] == "lifespan.startup" else "shutdown"
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    ws = WebSocket(scope, receive, send)
    await ws.accept()
    while (await ws.receive())["type"] != "websocket.disconnect":
        pass

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), ws=sys.argv[2],
            ws_per_message_deflate=False, log_level="warning", backlog=4096)
"""


async def _hold(url: str, sockets: int, servers: list[psutil.Process], first: str | None) -> float:
    """Open `sockets` clients (each sending `first`, if any), then the servers' RSS growth
    per socket in KiB, measured once they have settled."""
    before = rss_mib(servers)
    transports = []
    for _ in range(sockets):
        transport, _listener = await ws_connect(WSListener, url)
        if first is not None:
            transport.send(1, first.encode())  # 1: a text frame
        transports.append(transport)
    await asyncio.sleep(2)
    grown_mib = rss_mib(servers) - before
    for transport in transports:
        transport.disconnect()
    return grown_mib * 1024 / sockets


def bare(implementation: str, sockets: int) -> float:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(port), implementation])
    try:
        _wait_listening(port)
        url = f"ws://127.0.0.1:{port}/ws"
        return asyncio.run(_hold(url, sockets, [psutil.Process(proc.pid)], None))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def pulse_gateway(sockets: int) -> float:
    with running_pulse() as pulse:
        token = pulse.stream_token(pulse.api_key("read", "socket-memory"))
        servers, _ = pulse.processes()
        subscribe = json.dumps({"type": "subscribe", "metrics": ["idle.a", "idle.b"]})
        url = f"{pulse.ws_url}?token={token}"
        return asyncio.run(_hold(url, sockets, servers, subscribe))


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the bare server did not listen on {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=3000)
    args = parser.parse_args()
    rows: dict[str, Any] = {f"bare {impl}": bare(impl, args.sockets) for impl in IMPLEMENTATIONS}
    rows["pulse /ws"] = pulse_gateway(args.sockets)
    print(f"\nRSS growth per idle socket, {args.sockets:,} sockets")
    for name, kib in rows.items():
        print(f"  {name:<26} {kib:5.1f} KiB")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
