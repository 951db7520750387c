"""Which PostgreSQL serves history reads: a streaming read replica while it keeps up, else
the primary.

History, export and forecast reads tolerate data a few seconds old, so they may go to a
replica; anything that must see its own write (a dashboard just saved, accounts, alert
settings) always uses the primary engine and never asks this router. The replica's lag is
measured at most every `check_every_s` (not per query): one query on the replica, whose
answer is kept for the next reads."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, event, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import SQLAlchemyError

# Nothing waits to be replayed when everything received is replayed: the replica is current
# however long ago its last replayed transaction was (an idle primary sends none). A server
# out of recovery (a promoted replica) has no lag either.
LAG_QUERY = text(
    """
    SELECT CASE
        WHEN NOT pg_is_in_recovery() THEN 0
        WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
        ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 'Infinity')
    END::float8
    """
)


UNREACHABLE_RECHECK_S = 10.0


@dataclass(frozen=True, slots=True)
class ReplicaState:
    """One measurement: the lag in seconds (infinite when the replica did not answer)."""

    lag_s: float
    measured_at: float

    @property
    def reachable(self) -> bool:
        """Whether the replica answered the lag query."""
        return math.isfinite(self.lag_s)


class ReplicaRouter:
    """Hands out the engine for history reads: the replica's unless it lags or is away."""

    def __init__(
        self,
        primary: Engine,
        replica: Engine | None,
        max_lag_s: float = 5.0,
        check_every_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.replica = replica
        self.max_lag_s = max_lag_s
        self.check_every_s = check_every_s
        self._clock = clock
        self._lock = threading.Lock()  # Flask serves requests from several threads
        self._state: ReplicaState | None = None
        self._measuring = False
        if replica is not None:
            event.listen(replica, "handle_error", self._on_replica_error)

    def _on_replica_error(self, context: ExceptionContext) -> None:
        """A read lost its replica connection, or could not open one: the replica is taken
        for away now, so the next reads go to the primary at once rather than after the
        next lag check (a statement's own error, a timeout say, leaves it in use). A pooled
        connection found dead by the pool's ping is no sign: the pool opens another, and only
        if that fails is the replica away."""
        if context.is_pre_ping:
            return
        if context.is_disconnect or context.connection is None:
            with self._lock:
                self._state = ReplicaState(math.inf, self._clock())

    def history_engine(self) -> Engine:
        """The replica when it is configured, answers and lags at most max_lag_s; else the
        primary."""
        if self.replica is None:
            return self.primary
        state = self.state()
        return self.replica if state.lag_s <= self.max_lag_s else self.primary

    def state(self) -> ReplicaState:
        """The last measurement, measured again when older than check_every_s (a replica
        that did not answer: UNREACHABLE_RECHECK_S). One thread measures; the others read
        the last measurement meanwhile rather than wait for it."""
        with self._lock:
            state = self._state
            if state is not None and (self._measuring or not self._due(state)):
                return state
            self._measuring = True
        try:
            return self.measure()
        finally:
            self._measuring = False

    def _due(self, state: ReplicaState) -> bool:
        interval = self.check_every_s
        if not state.reachable:  # each try may wait its connect timeout: try less often
            interval = max(interval, UNREACHABLE_RECHECK_S)
        return self._clock() - state.measured_at >= interval

    def measure(self) -> ReplicaState:
        """Measure now (a /metrics scrape), keeping the answer for the next reads."""
        state = ReplicaState(self._measure(), self._clock())
        with self._lock:
            self._state = state
        return state

    def _measure(self) -> float:
        """The replica's lag in seconds; infinite when it cannot be asked."""
        if self.replica is None:
            return 0.0
        try:
            with self.replica.connect() as conn:
                lag = conn.execute(LAG_QUERY).scalar_one()
        except SQLAlchemyError:
            return math.inf  # away or refusing: reads go to the primary until it answers
        return max(0.0, float(lag))

    def dispose(self) -> None:
        """Close the replica's connections (the primary's belong to Services)."""
        if self.replica is not None:
            self.replica.dispose()
