"""`python app.py` on the embedded default stops whole on SIGTERM or Ctrl-C, and comes back
with its data; a run killed outright leaves servers that the next run reuses.

Each test runs the real entry point with no DATABASE_URL / REDIS_URL, so it starts its own
embedded PostgreSQL and Valkey under a temporary VAR_DIR, with the worker as a child process.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "shutdown-test-password"
STOP_WITHIN_S = 10.0
START_TIMEOUT_S = 120.0
# what would point the run at other services, or change what it starts
SCRUBBED_ENV = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "REDIS_PREFIX",
    "PORT",
    "VAR_DIR",
    "PROMETHEUS_MULTIPROC_DIR",
    "PULSE_ROLES",
    "WEB_PROCESSES",
)


def free_port() -> int:
    """A loopback TCP port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pid_in(pidfile: Path) -> int | None:
    """The pid on the first line of a server's pidfile, if there is one."""
    try:
        return int(pidfile.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def running(proc: psutil.Process) -> bool:
    """Whether this exact process still runs (a zombie has stopped)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@dataclass
class Run:
    """One `python app.py` on a var_dir: its processes and a signed-in HTTP session."""

    var_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    http: requests.Session = field(default_factory=requests.Session)
    seen: list[psutil.Process] = field(default_factory=list)  # killed at teardown if running

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start every role and wait until /readyz answers 200."""
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
        env.update(
            VAR_DIR=str(self.var_dir),
            DEMO_DATA="0",
            PORT=str(self.port),
            PULSE_ADMIN_PASSWORD=ADMIN_PASSWORD,
        )
        log = (self.var_dir.parent / "app.log").open("ab")
        # a session of its own, as a service manager gives it: the test's signals reach only it
        self.process = subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert self.process.poll() is None, f"app.py exited during start{self.log_tail()}"
            try:
                if requests.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"/readyz never answered 200{self.log_tail()}"
            time.sleep(0.2)

    def processes(self) -> dict[str, psutil.Process]:
        """The app, its children (the worker) and the embedded servers of this var_dir."""
        assert self.process is not None
        app = psutil.Process(self.process.pid)
        found = {"app": app}
        for child in app.children(recursive=True):
            found[f"child {child.pid} {' '.join(child.cmdline()[-2:])}"] = child
        for name, pidfile in (
            ("postgres", self.var_dir / "pg" / "postmaster.pid"),
            ("valkey", self.var_dir / "redis" / "redis.pid"),
        ):
            pid = pid_in(pidfile)
            assert pid is not None, f"no {name} pidfile in {pidfile.parent}"
            found[name] = psutil.Process(pid)
        assert found["valkey"].name() == "valkey-server"
        assert found["postgres"].name() == "postgres"
        assert any("worker" in proc.cmdline() for proc in app.children()), "no worker child"
        self.seen.extend(found.values())
        return found

    def sign_in(self) -> None:
        credentials = {"username": "admin", "password": ADMIN_PASSWORD}
        resp = self.http.post(f"{self.url}/login", json=credentials, timeout=10)
        assert resp.status_code == 200, resp.text

    def ingest(self, metric: str, value: float, age_s: float) -> None:
        """One point `age_s` seconds old (points of one test lie in separate 10 s buckets)."""
        point = {
            "source": "shutdown-test",
            "metric_type": metric,
            "timestamp": time.time() - age_s,
            "value": value,
        }
        resp = self.http.post(f"{self.url}/api/ingest", json=[point], timeout=10)
        assert resp.status_code == 202, resp.text

    def stored_values(self, metric: str) -> list[float]:
        """The raw values of `metric` in PostgreSQL, through /api/data."""
        resp = self.http.get(
            f"{self.url}/api/data",
            params={
                "metric": metric,
                "start": "now-1h",
                "end": "now+5m",
                "step": "10s",
                "agg": "sum",
            },
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        return sorted(value for series in resp.json()["series"] for _, value in series["points"])

    def wait_stored(self, metric: str, values: list[float]) -> None:
        """Wait (bounded) until the worker has written these values to PostgreSQL."""
        deadline = time.monotonic() + 30
        while self.stored_values(metric) != values:
            assert time.monotonic() < deadline, self.stored_values(metric)
            time.sleep(0.2)

    def stop_with(self, sig: signal.Signals) -> None:
        """SIGTERM to the app alone (`kill PID`), SIGINT to its whole process group (Ctrl-C in
        a terminal): every process of the run must be gone within 10 s."""
        assert self.process is not None
        processes = self.processes()
        sent = time.monotonic()
        if sig == signal.SIGINT:
            os.killpg(self.process.pid, sig)  # start_new_session: its pgid is its pid
        else:
            self.process.send_signal(sig)
        while any(running(proc) for proc in processes.values()):
            if time.monotonic() - sent > STOP_WITHIN_S:
                left = [name for name, proc in processes.items() if running(proc)]
                pytest.fail(
                    f"still running {STOP_WITHIN_S}s after {sig.name}: {left}{self.log_tail()}"
                )
            time.sleep(0.05)
        self.process.wait(timeout=1)
        self.http = requests.Session()

    def kill_everything(self) -> dict[str, psutil.Process]:
        """SIGKILL the app and its children, as a crash or an OOM kill would; not the servers."""
        processes = self.processes()
        for name, proc in processes.items():
            if name not in ("postgres", "valkey"):
                proc.kill()
        assert self.process is not None
        self.process.wait(timeout=10)
        return processes

    def log_tail(self) -> str:
        text = (self.var_dir.parent / "app.log").read_text(errors="replace")
        return "\n--- app.log ---\n" + text[-4000:]


@pytest.fixture
def var_dir() -> Iterator[Path]:
    """A var_dir in a fresh /tmp directory (not tmp_path: as root it is 0700, which locks out
    the embedded PostgreSQL's own user); whatever a failed test left running is stopped."""
    root = Path(tempfile.mkdtemp(prefix="pulse-shutdown-"))
    yield root / "var"
    for pidfile in (root / "var" / "redis" / "redis.pid", root / "var" / "pg" / "postmaster.pid"):
        pid = pid_in(pidfile)
        if pid is not None and psutil.pid_exists(pid):
            proc = psutil.Process(pid)
            if proc.name() in ("valkey-server", "postgres"):
                proc.kill()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def run(var_dir: Path) -> Iterator[Run]:
    """A Run on the var_dir; whatever of it a failing test left running is killed."""
    current = Run(var_dir)
    yield current
    if current.process is not None and current.process.poll() is None:
        app = psutil.Process(current.process.pid)
        current.seen.extend([app, *app.children(recursive=True)])
    for proc in current.seen:
        if running(proc):
            proc.kill()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_a_signal_stops_every_process_of_the_run_and_keeps_the_data(
    run: Run, sig: signal.Signals
) -> None:
    metric = f"shutdown.{uuid.uuid4().hex[:8]}"
    run.start()
    # a wrong password is refused with the message (the throttle's EXPIRE NX needs Redis 7+)
    refused = requests.post(
        f"{run.url}/login", json={"username": "admin", "password": "wrong"}, timeout=10
    )
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["message"] == "Wrong username or password."
    run.sign_in()
    run.ingest(metric, 1.0, age_s=60)
    run.wait_stored(metric, [1.0])
    session_cookie = run.http.cookies.get("session")
    run.ingest(metric, 2.0, age_s=30)  # may still be queued in Redis when the signal comes

    run.stop_with(sig)

    run.start()
    # the session is recorded in Redis and signed with the key kept in var_dir
    run.http.cookies.set("session", session_cookie)
    run.wait_stored(metric, [1.0, 2.0])
    run.http = requests.Session()
    run.sign_in()  # the admin is still in PostgreSQL, its password unchanged
    assert run.stored_values(metric) == [1.0, 2.0]
    run.stop_with(sig)


@pytest.mark.timeout(240)
def test_servers_left_by_a_killed_run_are_reused_with_their_data(run: Run) -> None:
    metric = f"killed.{uuid.uuid4().hex[:8]}"
    run.start()
    # a first start says what it does, one line a step, then where Pulse is and its data
    said = run.log_tail()
    var_dir = str(run.var_dir.resolve())
    for line in (
        f"==> starting the embedded PostgreSQL in {var_dir}/pg (first start: initialising it)",
        f"==> starting the embedded Redis (Valkey) in {var_dir}/redis",
        "==> bringing the database schema up to date",
        "==> starting the worker (ingest writer, sources, alerts)",
        f"  Pulse is running on {run.url}",
        f"  PostgreSQL: embedded, under {var_dir}",
        f"  Redis: embedded, under {var_dir}",
        "  Ctrl-C stops Pulse and the servers it started; the data stays.",
    ):
        assert line in said, line
    assert ADMIN_PASSWORD not in said  # chosen by the operator: never printed
    run.sign_in()
    run.ingest(metric, 1.0, age_s=60)
    run.wait_stored(metric, [1.0])
    session_cookie = run.http.cookies.get("session")

    before = run.kill_everything()
    assert running(before["postgres"]) and running(before["valkey"])  # daemons outlive it

    run.start()
    after = run.processes()
    assert after["postgres"].pid == before["postgres"].pid
    assert after["valkey"].pid == before["valkey"].pid
    run.http.cookies.set("session", session_cookie)
    assert run.stored_values(metric) == [1.0]
    run.stop_with(signal.SIGTERM)  # and the reused servers stop with this run
