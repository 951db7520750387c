"""Bench harness: a private database and Redis prefix, and Pulse started as real processes."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import requests
from redis import Redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Pulse:
    """A running Pulse (web + stream in one process, worker as its child)."""

    url: str
    ws_url: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    root: Path = ROOT

    def admin(self, *args: str, stdin: str = "") -> str:
        """Run an admin command of app.py against this Pulse; return what it printed."""
        out = subprocess.run(
            [sys.executable, "app.py", *args],
            cwd=self.root,
            env=self.env,
            input=stdin.encode(),
            capture_output=True,
            check=True,
        )
        return out.stdout.decode().strip()

    def api_key(self, scope: str, name: str, tenant: str = "bench") -> str:
        """A new API key of `tenant` with `scope` (ingest or read); its secret."""
        printed = self.admin("create-api-key", "--tenant", tenant, "--name", name, "--scope", scope)
        return printed.splitlines()[-1]

    def stream_token(self, read_key: str) -> str:
        """A /ws token, as GET /api/stream-token gives one for a read key."""
        resp = requests.get(
            self.url + "/api/stream-token",
            timeout=10,
            headers={"Authorization": f"Bearer {read_key}"},
        )
        resp.raise_for_status()
        return str(resp.json()["token"])

    def processes(self) -> tuple[list[psutil.Process], list[psutil.Process]]:
        """Pulse's processes as (servers, workers): app.py and uvicorn's serve pages, /api
        and /ws; the worker role runs as `app.py worker`, a child of it."""
        supervisor = psutil.Process(self.process.pid)
        children = supervisor.children(recursive=True)
        workers = [p for p in children if "worker" in p.cmdline()]
        return [supervisor] + [p for p in children if p not in workers], workers

    def server_rss_mib(self) -> float:
        """The resident memory of the server processes (pages, /api and /ws; the worker
        left out), in MiB."""
        return rss_mib(self.processes()[0])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_urls() -> tuple[str, str]:
    """The machine's services from the environment, or embedded ones under ./var/bench."""
    database_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if database_url and redis_url:
        return database_url, redis_url
    sys.path.insert(0, str(ROOT))
    from app.embedded import resolve
    from app.settings import Settings

    resolved, _ = resolve(
        Settings(var_dir=ROOT / "var" / "bench", database_url=None, redis_url=None)
    )
    return resolved.require_urls()


@contextmanager
def running_pulse(
    extra_env: dict[str, str] | None = None, database: str | None = None, root: Path = ROOT
) -> Iterator[Pulse]:
    """Start Pulse on a fresh database and key prefix; remove both afterwards. With
    `database`, Pulse runs on that existing database instead, which is kept; with `root`,
    the Pulse checked out there (an older version, as a baseline)."""
    server_url, redis_url = service_urls()
    name = database or f"pulse_bench_{secrets.token_hex(4)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    if database is None:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    prefix = f"pulse-bench-{secrets.token_hex(4)}:"
    port = free_port()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=make_url(server_url).set(database=name).render_as_string(hide_password=False),
        REDIS_URL=redis_url,
        REDIS_PREFIX=prefix,
        SECRET_KEY=secrets.token_hex(16),
        DEMO_DATA="0",
        PORT=str(port),
        PULSE_ADMIN_PASSWORD=secrets.token_hex(8),
        **(extra_env or {}),
    )
    process = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        yield Pulse(url, f"ws://127.0.0.1:{port}/ws", process, env, root)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
        redis = Redis.from_url(redis_url)
        keys = list(redis.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            redis.delete(*keys)
        if database is None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("Pulse exited during start-up")
        try:
            if requests.get(url + "/readyz", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TimeoutError("Pulse did not become ready within 60 s")


def percentile(values: list[float], pct: float) -> float:
    """The pct-th percentile (nearest rank) of values; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def rss_mib(processes: list[psutil.Process]) -> float:
    """The resident memory of `processes` together, in MiB."""
    return sum(p.memory_info().rss for p in processes) / 2**20


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """The CPU time (user + system) `processes` have used so far; one gone counts 0."""
    total = 0.0
    for p in processes:
        try:
            times = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def spread(values: list[float]) -> dict[str, float]:
    """p50, p99 and max of latencies in ms (NaN when there are none)."""
    return {
        "p50_ms": percentile(values, 50),
        "p99_ms": percentile(values, 99),
        "max_ms": max(values, default=float("nan")),
    }


@contextmanager
def scratch_services() -> Iterator[Any]:
    """Services on a new database and Redis prefix (tenant `bench`), dropped afterwards."""
    sys.path.insert(0, str(ROOT))
    from app.services import Services
    from app.settings import Settings
    from data.stores.db import migrate

    server = os.environ["DATABASE_URL"]
    name = f"pulse_bench_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    prefix = f"pulse-bench-{secrets.token_hex(4)}:"
    settings = Settings(
        database_url=make_url(server).set(database=name).render_as_string(hide_password=False),
        redis_url=os.environ["REDIS_URL"],
        redis_prefix=prefix,
        secret_key="bench",
    )
    services = Services.build(settings)
    try:
        migrate(services.engine)
        with services.engine.begin() as conn:
            services.accounts.ensure_tenant(conn, "bench")
        yield services
    finally:
        keys = list(services.redis.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            services.redis.delete(*keys)
        services.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
