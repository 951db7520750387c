"""Services: the one object that owns every connection a Pulse process uses."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from redis import Redis
from sqlalchemy import Engine

from app.settings import Settings
from data.stores.accounts import Accounts
from data.stores.dashboards import DashboardStore
from data.stores.db import make_engine
from data.stores.history import HistoryStore
from data.stores.live import LiveStore
from data.stores.redis_connect import connect_redis, is_cluster_url
from data.stores.redis_keys import RedisKeys
from data.stores.replica import ReplicaRouter


@dataclass
class Services:
    """Stores and clients built once from Settings and handed to every part explicitly."""

    settings: Settings
    engine: Engine
    redis: Redis
    live: LiveStore
    history: HistoryStore
    accounts: Accounts
    dashboards: DashboardStore
    # Epoch seconds: every "now" of the product. The live store, the accounts and the
    # dashboards hold the clock they were built with (Services.build(clock=...)); a copy made
    # with another clock (dataclasses.replace) moves only what reads Services.clock.
    clock: Callable[[], float] = field(default=time.time)
    # History, export and forecast reads (stale by a few seconds at most) may go to a read
    # replica; None: everything reads the primary `engine`, as does anything that must see
    # its own write (dashboards, accounts, alert settings).
    reads: ReplicaRouter | None = None

    @classmethod
    def build(
        cls,
        settings: Settings,
        pool_size: int = 5,
        statement_timeout_ms: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> Services:
        """Connect to PostgreSQL and Redis as the settings say (nothing is migrated here);
        `statement_timeout_ms` bounds every statement (the web role's, asked for by users);
        `clock` (epoch seconds) is the time every part reads, the live store's included."""
        database_url, redis_url = settings.require_urls()
        engine = make_engine(database_url, pool_size, statement_timeout_ms)
        redis = connect_redis(redis_url, health_check_interval=30)
        live = LiveStore(
            redis,
            settings.redis_prefix,
            settings.live_resume_s,
            settings.retention_raw_days + 1,
            clock=clock,
            keys=redis_keys(settings, redis_url),
            wait_replicas=wait_replicas(settings, redis_url),
        )
        accounts = Accounts(engine, clock)
        dashboards = DashboardStore(engine, clock)
        history = HistoryStore(engine)
        reads = _replica_router(settings, engine, pool_size, statement_timeout_ms)
        return cls(settings, engine, redis, live, history, accounts, dashboards, clock, reads)

    def history_engine(self) -> Engine:
        """The engine for history, export and forecast reads: the read replica while it
        keeps up, else the primary. Never for a read that must see its own write."""
        return self.engine if self.reads is None else self.reads.history_engine()

    def history_reads(self) -> HistoryStore:
        """A HistoryStore reading where history_engine() says (only for reads: writes go
        through `history`, on the primary)."""
        return HistoryStore(self.history_engine())

    def now_ms(self) -> int:
        """The current time in epoch milliseconds, from the injected clock."""
        return int(self.clock() * 1000)

    def close(self) -> None:
        """Release every connection."""
        self.redis.close()
        self.engine.dispose()
        if self.reads is not None:
            self.reads.dispose()


def redis_keys(settings: Settings, redis_url: str) -> RedisKeys:
    """The key names for the deployment: tagged by partition on a cluster only, so a single
    server keeps the names (and the queued entries) it had before clusters were supported."""
    clustered = is_cluster_url(redis_url)
    return RedisKeys(settings.redis_prefix, settings.redis_partitions, clustered)


def wait_replicas(settings: Settings, redis_url: str) -> int:
    """How many replicas must hold an ingest entry before it is acknowledged."""
    if settings.redis_wait_replicas is not None:
        return settings.redis_wait_replicas
    return 1 if is_cluster_url(redis_url) else 0


def _replica_router(
    settings: Settings, primary: Engine, pool_size: int, statement_timeout_ms: int | None
) -> ReplicaRouter | None:
    """The router to DATABASE_REPLICA_URL, or None when no replica is configured."""
    if not (settings.database_replica_url or "").strip():
        return None
    # a replica that does not answer must not hold a request for long: it is then skipped
    replica = make_engine(
        settings.database_replica_url or "", pool_size, statement_timeout_ms, connect_timeout_s=2
    )
    return ReplicaRouter(primary, replica, settings.replica_max_lag_s, settings.replica_check_s)
