"""Server CPU, attributed per process group, for the cost benches (viewer_cost, idle_cost).

PostgreSQL and Redis are shared on this machine by other sessions, so what serves the
bench is picked out process by process:

- PostgreSQL: the backends connected to the bench's own database (their process title,
  `postgres: USER DATABASE HOST(PORT) STATE`, names it). The server's shared background
  processes (WAL writer, checkpointer, autovacuum launcher) are left out: they serve every
  database of the server at once. A backend that exits inside a window loses its share.
- Redis: a private `redis-server` started for the bench (no persistence, loopback port),
  so its whole CPU is the bench's.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psutil
from harness import free_port
from redis import Redis

Finder = Callable[[], list[psutil.Process]]


def _cpu(process: psutil.Process) -> float | None:
    try:
        times = process.cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return float(times.user + times.system)


def postgres_backends(database: str) -> list[psutil.Process]:
    """The PostgreSQL backends connected to `database` now."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        title = " ".join(cmdline)
        if title.startswith("postgres: ") and f" {database} " in f"{title} ":
            found.append(process)
    return found


@dataclass
class CpuMeter:
    """CPU seconds used per named group of processes between `start()` and `stop()`.

    Each group is a function returning its processes *now*: called at both ends, so that a
    process started inside the window (a new PostgreSQL backend) counts from zero."""

    groups: dict[str, Finder]
    _before: dict[str, dict[int, float]] = field(default_factory=dict)
    _started: float = 0.0

    def _sample(self) -> dict[str, dict[int, float]]:
        out: dict[str, dict[int, float]] = {}
        for name, find in self.groups.items():
            out[name] = {}
            for process in find():
                cpu = _cpu(process)
                if cpu is not None:
                    out[name][process.pid] = cpu
        return out

    def start(self) -> None:
        self._before = self._sample()
        self._started = time.monotonic()

    def stop(self) -> tuple[float, dict[str, float]]:
        """(seconds elapsed, {group: CPU seconds used in the window})."""
        after = self._sample()
        elapsed = time.monotonic() - self._started
        used = {}
        for name, pids in after.items():
            before = self._before.get(name, {})
            used[name] = sum(max(0.0, cpu - before.get(pid, 0.0)) for pid, cpu in pids.items())
        return elapsed, used


@contextmanager
def private_redis() -> Iterator[tuple[str, psutil.Process]]:
    """A redis-server of the bench's own on a free loopback port: (URL, its process)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="pulse-bench-redis-")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        + ["--dir", workdir, "--maxclients", "20000", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_redis(url, process)
        yield url, psutil.Process(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_redis(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("redis-server exited at start")
        try:
            Redis.from_url(url).ping()
            return
        except Exception:  # noqa: BLE001 - not listening yet: try again shortly
            time.sleep(0.1)
    raise TimeoutError("redis-server did not answer within 20 s")


def load_average() -> str:
    """The machine's load average (1, 5, 15 min): other sessions share the two cores."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())
