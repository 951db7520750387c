"""deploy/nginx: both configurations pass `nginx -t` (Debian's nginx, .ci/system-packages),
share one server block, and the loopback one really proxies pages, /api and /ws to Pulse,
riding over a dead upstream."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import requests
from websockets.asyncio.client import connect

from app.services import Services
from tests.conftest import LiveServer, free_port, wait_until
from tests.deploy.support import NGINX

NGINX_BIN = shutil.which("nginx") or "/usr/sbin/nginx"
TEMPLATE = NGINX / "pulse-loopback.conf.template"
COMPOSE_CONF = NGINX / "pulse.conf"


def nginx() -> str:
    """The nginx binary; CI (PULSE_REQUIRE_SERVICES) must have it, as .ci/system-packages says."""
    if os.access(NGINX_BIN, os.X_OK):
        return NGINX_BIN
    message = "nginx is not installed (apt-get install nginx; .ci/system-packages does)"
    if os.environ.get("PULSE_REQUIRE_SERVICES"):
        pytest.fail(message)
    pytest.skip(message)


def loopback_conf(listen: int, web: tuple[int, int], stream: tuple[int, int]) -> str:
    """The loopback template with its ports filled in, as `make cluster-up` does with sed."""
    ports = {
        "WEB_PORT_1": web[0],
        "WEB_PORT_2": web[1],
        "STREAM_PORT_1": stream[0],
        "STREAM_PORT_2": stream[1],
    }
    text = TEMPLATE.read_text(encoding="utf-8")
    for name, port in ports.items():
        text = text.replace(f"@{name}@", str(port))
    assert "@" not in re.sub(r"#.*", "", text), "a placeholder was left unfilled"
    return text.replace("listen 127.0.0.1:18080;", f"listen 127.0.0.1:{listen};")


def prefix_with(tmp_path: Path, conf: str) -> Path:
    """A prefix directory holding `conf` as nginx.conf and the logs/ and tmp/ it writes to."""
    for sub in ("logs", "tmp"):
        (tmp_path / sub).mkdir()
    (tmp_path / "nginx.conf").write_text(conf, encoding="utf-8")
    return tmp_path


def nginx_args(prefix: Path) -> list[str]:
    return [nginx(), "-p", f"{prefix}/", "-c", "nginx.conf", "-e", "logs/error.log"]


def check(prefix: Path) -> None:
    result = subprocess.run(
        [*nginx_args(prefix), "-t"], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr


def test_loopback_template_passes_nginx_t(tmp_path: Path) -> None:
    check(prefix_with(tmp_path, loopback_conf(18080, (18081, 18082), (18083, 18084))))


def test_compose_config_passes_nginx_t(tmp_path: Path) -> None:
    """Checked inside a minimal nginx.conf, as the image's own includes it; the compose
    service names (which nginx resolves at start) become loopback addresses."""
    text = COMPOSE_CONF.read_text(encoding="utf-8")
    text = re.sub(r"\b(?:web|stream)-\d:8050\b", "127.0.0.1:8050", text)
    text = text.replace("/var/log/nginx/", "logs/")
    check(prefix_with(tmp_path, f"pid nginx.pid;\nevents {{}}\nhttp {{\n{text}\n}}\n"))


def server_block(text: str) -> list[str]:
    """The `server { … }` block's lines, stripped of indentation, without `listen`."""
    lines = [line.strip() for line in text.splitlines()]
    start = lines.index("server {")
    return [line for line in lines[start:] if not line.startswith("listen ")]


def test_compose_and_loopback_configs_share_one_server_block() -> None:
    compose = server_block(COMPOSE_CONF.read_text(encoding="utf-8"))
    loopback = server_block(TEMPLATE.read_text(encoding="utf-8"))
    assert loopback == [*compose, "}"]  # the template closes its http block after it


def test_retries_never_resend_a_post_nor_hide_pulses_own_503() -> None:
    """A resent ingest could be stored twice; a 503 (a shared store away) is Pulse's answer
    to pass on, with its Retry-After, not a reason to mark every process failed."""
    retries = [line for line in server_block(TEMPLATE.read_text()) if "next_upstream " in line]
    assert retries == ["proxy_next_upstream error timeout;"]


@pytest.fixture
def proxy(live_server: LiveServer, tmp_path: Path) -> Iterator[str]:
    """nginx from the loopback template in front of the live server, with the second web and
    stream upstreams pointing at a port nobody listens on (a process that died)."""
    pulse = int(live_server.url.rsplit(":", 1)[1])
    dead = free_port()
    port = free_port()
    prefix = prefix_with(tmp_path, loopback_conf(port, (pulse, dead), (pulse, dead)))
    log = (tmp_path / "logs" / "stdout.log").open("wb")
    process = subprocess.Popen(
        [*nginx_args(prefix), "-g", "daemon off;"], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url + "/healthz"), timeout=20)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.ConnectionError:
        return False


def test_readiness_through_nginx_rides_over_a_dead_upstream(proxy: str) -> None:
    """Round robin sends every other request to the dead address; each is retried on the
    live one (proxy_next_upstream), so no request fails."""
    statuses = [requests.get(proxy + "/readyz", timeout=10).status_code for _ in range(20)]
    assert statuses == [200] * 20
    assert requests.get(proxy + "/readyz", timeout=10).json()["checks"] == {
        "postgres": "ok",
        "redis": "ok",
    }


def test_request_ids_pass_through_nginx(proxy: str) -> None:
    """The client's X-Request-ID reaches Pulse (which echoes it); without one, nginx's own."""
    given = requests.get(proxy + "/healthz", headers={"X-Request-ID": "abc-123"}, timeout=10)
    assert given.headers["X-Request-ID"] == "abc-123"
    made = [requests.get(proxy + "/healthz", timeout=10).headers["X-Request-ID"] for _ in "ab"]
    assert all(re.fullmatch(r"[0-9a-f]{32}", rid) for rid in made) and made[0] != made[1]


def test_live_points_reach_a_socket_opened_through_nginx(
    proxy: str, services: Services, tenant: str, ingest_key: str
) -> None:
    """The WebSocket upgrade goes through, and the gateway takes the page's own origin
    (Host is passed with its port) — then a point ingested through nginx arrives."""
    read_key = services.accounts.create_api_key(tenant, "nginx test read", "read")
    answer = requests.get(
        proxy + "/api/stream-token", headers={"Authorization": f"Bearer {read_key}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["token"]
    value = time.time() % 1_000

    async def scenario() -> list[float]:
        ws_url = proxy.replace("http://", "ws://") + f"/ws?token={token}"
        async with connect(
            ws_url, additional_headers={"Origin": proxy}, proxy=None, open_timeout=10
        ) as ws:
            await ws.send(orjson.dumps({"type": "subscribe", "metrics": ["nginx.check"]}).decode())
            await ws.send(orjson.dumps({"type": "are-you-there"}).decode())
            while orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "error":
                pass  # the error answering the unknown message: the subscribe is in place
            point = {"source": "edge", "metric_type": "nginx.check", "value": value}
            sent = requests.post(
                proxy + "/api/ingest",
                json=[{**point, "timestamp": time.time()}],
                headers={"Authorization": f"Bearer {ingest_key}"},
                timeout=10,
            )
            assert sent.status_code == 202, sent.text
            while (message := orjson.loads(await asyncio.wait_for(ws.recv(), 15)))[
                "type"
            ] != "points":
                pass
            return [p["value"] for p in message["points"]]

    assert asyncio.run(scenario()) == [value]
