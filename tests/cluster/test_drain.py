"""SIGTERM drains `python app.py web` and `python app.py stream` (app/drain.py): /readyz
answers 503 at once, open /ws sockets are closed with 1012 (service restart) so that their
clients reconnect elsewhere, a socket opened meanwhile is told the same, a waiting long poll
is answered, an ingest request in flight finishes with 202, and the process exits 0 within
DRAIN_TIMEOUT_S. Real role processes, a real socket, a real signal."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from typing import Any

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from app.drain import CLOSE_SERVICE_RESTART
from app.services import Services
from app.settings import Settings
from app.tokens import StreamTokens
from data.domain.points import Point
from tests.cluster.roles import RoleProcess, running_role
from tests.conftest import wait_until

DRAIN_TIMEOUT_S = 10.0
DRAIN_UNREADY_S = 3.0
EXIT_SLACK_S = 3.0  # interpreter shutdown after the drain, on a loaded machine
DRAIN_ENV = {"DRAIN_TIMEOUT_S": str(DRAIN_TIMEOUT_S), "DRAIN_UNREADY_S": str(DRAIN_UNREADY_S)}


def readyz_status(role: RoleProcess) -> int:
    return requests.get(f"{role.url}/readyz", timeout=2).status_code


def close_code(ws: Any) -> int | None:
    """The code the server closed this socket with (read until the close arrives)."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=10)
    return closed.value.rcvd.code if closed.value.rcvd else None


def exits_cleanly_within_the_bound(role: RoleProcess, sent: float) -> None:
    code = role.process.wait(timeout=DRAIN_TIMEOUT_S + EXIT_SLACK_S)
    assert code == 0, role.log_tail()
    took = time.monotonic() - sent
    assert took <= DRAIN_TIMEOUT_S + EXIT_SLACK_S, f"{took:.1f} s{role.log_tail()}"


def stream_token(settings: Settings, tenant: str) -> str:
    return StreamTokens(settings.require_secret(), settings.stream_token_ttl_s).issue(tenant)


def test_a_stream_process_sends_its_sockets_elsewhere_and_exits(
    settings: Settings, tenant: str
) -> None:
    with running_role(settings, "stream", **DRAIN_ENV) as stream:
        url = f"{stream.ws_url}?token={stream_token(settings, tenant)}"
        with connect(url) as ws:
            subscribe = {"type": "subscribe", "metrics": ["cpu.*"], "sources": ["*"]}
            ws.send(json.dumps(subscribe))
            sent = stream.terminate()
            wait_until(lambda: readyz_status(stream) == 503, timeout=DRAIN_UNREADY_S)
            assert close_code(ws) == CLOSE_SERVICE_RESTART
        # still listening while unready: a socket opened now is sent away too
        with connect(url) as late:
            assert close_code(late) == CLOSE_SERVICE_RESTART
        exits_cleanly_within_the_bound(stream, sent)


def publish(services: Services, tenant: str, value: float) -> str:
    """One point on the tenant's live stream, as the worker commits it; its cursor."""
    point = Point(uuid.uuid4().hex, "web-1", "cpu.usage", int(time.time() * 1000), value)
    return services.live.publish_points(tenant, [point])


def points_received(ws: Any) -> tuple[list[float], str]:
    """The values and cursor of the next points frame (pings skipped)."""
    while True:
        frame = json.loads(ws.recv(timeout=10))
        if frame["type"] == "points":
            return [p["value"] for p in frame["points"]], frame["cursor"]


def test_a_socket_sent_away_resumes_on_another_gateway_with_no_gap(
    settings: Settings, services: Services, tenant: str
) -> None:
    token = stream_token(settings, tenant)
    start = publish(services, tenant, 0.0)  # subscribing from it: nothing missed meanwhile
    subscribe = {"type": "subscribe", "metrics": ["cpu.*"], "sources": ["*"]}
    with (
        running_role(settings, "stream", **DRAIN_ENV) as leaving,
        running_role(settings, "stream", **DRAIN_ENV) as staying,
    ):
        with connect(f"{leaving.ws_url}?token={token}") as ws:
            ws.send(json.dumps({**subscribe, "cursor": start}))
            publish(services, tenant, 1.0)
            seen, cursor = points_received(ws)
            assert seen == [1.0]
            sent = leaving.terminate()
            assert close_code(ws) == CLOSE_SERVICE_RESTART
        publish(services, tenant, 2.0)  # while the client is away
        with connect(f"{staying.ws_url}?token={token}") as ws:  # as its page reconnects
            ws.send(json.dumps({**subscribe, "cursor": cursor}))
            assert points_received(ws)[0] == [2.0]  # replayed from the cursor
            publish(services, tenant, 3.0)
            assert points_received(ws)[0] == [3.0]  # then live
        exits_cleanly_within_the_bound(leaving, sent)


def post_in_two_halves(port: int, key: str, body: bytes) -> tuple[socket.socket, bytes]:
    """An ingest request whose headers and first half of body are sent: in flight."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        f"POST /api/ingest HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    half = len(body) // 2
    sock.sendall(head + body[:half])
    return sock, body[half:]


def finish(sock: socket.socket, rest: bytes) -> tuple[str, Any]:
    """Send the rest of the body; the response's status line and JSON body."""
    sock.sendall(rest)
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    sock.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0].decode(), json.loads(body or b"null")


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_a_web_process_finishes_the_ingest_in_flight_and_exits(
    settings: Settings, services: Services, tenant: str, ingest_key: str
) -> None:
    read_key = services.accounts.create_api_key(tenant, "drain read", "read")
    points = [
        {"source": "drain", "metric_type": "drain.test", "timestamp": time.time(), "value": i}
        for i in range(200)
    ]
    with running_role(settings, "web", **DRAIN_ENV) as web:
        updates = f"{web.url}/api/updates"
        auth = {"Authorization": f"Bearer {read_key}"}
        first = requests.get(updates, params={"metric": "drain.*"}, headers=auth, timeout=10)
        polled: dict[str, Any] = {}

        def long_poll() -> None:  # waits up to 25 s for points, unless the drain ends it
            params = {"metric": "nothing.*", "cursor": first.json()["cursor"]}
            polled["resp"] = requests.get(updates, params=params, headers=auth, timeout=30)

        poller = threading.Thread(target=long_poll)
        poller.start()
        sock, rest = post_in_two_halves(web.port, ingest_key, json.dumps(points).encode())
        time.sleep(0.5)  # the poll is waiting, the ingest's body half read
        sent = web.terminate()
        wait_until(lambda: readyz_status(web) == 503, timeout=DRAIN_UNREADY_S)
        poller.join(timeout=DRAIN_TIMEOUT_S)
        assert polled["resp"].status_code == 200 and polled["resp"].json()["points"] == []
        # past the unready time the listener is closed: the request is still in flight
        wait_until(lambda: not listening(web.port), timeout=DRAIN_TIMEOUT_S)
        status, body = finish(sock, rest)
        assert status.startswith("HTTP/1.1 202") and body == {"accepted": 200}, web.log_tail()
        exits_cleanly_within_the_bound(web, sent)
