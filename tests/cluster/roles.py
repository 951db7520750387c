"""`python app.py <role>` as a real process on a free loopback port, against the test run's
PostgreSQL and Redis: for tests of what a role does when it is stopped, and, later, of
several roles behind a load balancer."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from app.settings import Settings
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0
# what would point the process elsewhere than the settings given
SCRUBBED_ENV = ("PROMETHEUS_MULTIPROC_DIR", "WEB_PROCESSES", "PULSE_SERVE_ROLES", "PULSE_DRAIN")


@dataclass
class RoleProcess:
    """One running role: its process, address and log."""

    role: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def log_tail(self) -> str:
        """The end of the process's output, for a failure message."""
        try:
            return "\n--- app.py output ---\n" + self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def terminate(self) -> float:
        """Send SIGTERM (as a service manager or Kubernetes does); the monotonic time sent."""
        self.process.send_signal(signal.SIGTERM)
        return time.monotonic()

    def wait_ready(self) -> None:
        """Wait until /readyz answers 200, failing with the log when the process died."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert self.process.poll() is None, f"app.py {self.role} exited{self.log_tail()}"
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            assert time.monotonic() < deadline, f"/readyz never answered 200{self.log_tail()}"
            time.sleep(0.2)


def role_env(settings: Settings, port: int, **extra: str) -> dict[str, str]:
    """The environment of a role process on the settings' services."""
    database_url, redis_url = settings.require_urls()
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SECRET_KEY=settings.require_secret(),
        REDIS_PREFIX=settings.redis_prefix,
        PORT=str(port),
        DEMO_DATA="0",
        EMBED_ALLOWED_ORIGINS=settings.embed_allowed_origins,
        **extra,
    )
    if settings.database_replica_url:
        env["DATABASE_REPLICA_URL"] = settings.database_replica_url
    return env


@contextlib.contextmanager
def running_role(settings: Settings, role: str, **extra_env: str) -> Iterator[RoleProcess]:
    """`python app.py role` until the block ends (killed then if it still runs)."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix=f"pulse-{role}-", suffix=".log")[1])
    with log.open("ab") as out:
        # a session of its own, as a service manager gives it: the test's signals reach only it
        process = subprocess.Popen(
            [sys.executable, "app.py", role],
            cwd=ROOT,
            env=role_env(settings, port, **extra_env),
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    running = RoleProcess(role, process, port, log)
    try:
        running.wait_ready()
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        log.unlink(missing_ok=True)
