"""A real PostgreSQL primary and a streaming replica of it (pg_basebackup -R) on loopback
ports, for tests of replica reads and, later, of the whole cluster."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.embedded.replica import LoopbackPostgres, start_primary, start_replica


@dataclass(frozen=True)
class ReplicatedPostgres:
    """A primary and its replica, with what the tests do to replication."""

    primary: LoopbackPostgres
    replica: LoopbackPostgres

    def caught_up(self, timeout: float = 20.0) -> None:
        """Wait until the replica has replayed everything the primary had written."""
        with self.primary.connect() as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
            target = row[0] if row else None
        deadline = time.monotonic() + timeout
        with self.replica.connect() as conn:
            while True:
                done = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,))
                if done.fetchone() == (True,):
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError("the replica did not catch up")
                time.sleep(0.05)

    def pause_replay(self) -> None:
        """The replica keeps receiving WAL but applies none of it (it falls behind)."""
        with self.replica.connect() as conn:
            conn.execute("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        """The replica applies WAL again."""
        with self.replica.connect() as conn:
            conn.execute("SELECT pg_wal_replay_resume()")

    @contextlib.contextmanager
    def replay_paused(self) -> Iterator[None]:
        """Replay paused for the block, resumed after it (even when it fails)."""
        self.pause_replay()
        try:
            yield
        finally:
            self.resume_replay()


@contextlib.contextmanager
def replicated_postgres() -> Iterator[ReplicatedPostgres]:
    """A primary and a streaming replica under a temporary directory, stopped and removed
    when the block ends."""
    # not pytest's tmp_path: as root it is 0700, which locks out the servers' own user
    root = Path(tempfile.mkdtemp(prefix="pulse-replica-"))
    started: list[LoopbackPostgres] = []
    try:
        started.append(start_primary(root / "primary"))
        started.append(start_replica(started[0], root / "replica"))
        yield ReplicatedPostgres(*started)
    finally:
        for server in reversed(started):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
