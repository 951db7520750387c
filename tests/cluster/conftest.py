"""Fixtures of the cluster tests: a loopback Redis Cluster, a replicated PostgreSQL and
Services reading from it."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cluster.layout import free_port_run
from app.embedded.redis_cluster import LoopbackRedisCluster
from app.services import Services
from app.settings import Settings
from data.stores.db import migrate
from tests.cluster.postgres import ReplicatedPostgres, replicated_postgres


@pytest.fixture(scope="module")
def replicated() -> Iterator[ReplicatedPostgres]:
    """A primary and its streaming replica, for the tests of one module."""
    with replicated_postgres() as servers:
        yield servers


@pytest.fixture(scope="module")
def replica_services(settings: Settings, replicated: ReplicatedPostgres) -> Iterator[Services]:
    """Services on the replicated primary (migrated) with DATABASE_REPLICA_URL set; the lag
    threshold is high, so a paused replica keeps serving reads until a test says otherwise."""
    replica_settings = settings.model_copy(
        update={
            "database_url": replicated.primary.url,
            "database_replica_url": replicated.replica.url,
            "replica_max_lag_s": 3600.0,
            "replica_check_s": 0.2,
        }
    )
    svc = Services.build(replica_settings, pool_size=5)
    migrate(svc.engine)
    replicated.caught_up()
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def cluster() -> Iterator[LoopbackRedisCluster]:
    """A 3-primary Redis Cluster with a replica each, for the tests of one module
    (test_chaos.py has a whole Pulse cluster of its own under the same name)."""
    directory = Path(tempfile.mkdtemp(prefix="pulse-rcluster-"))
    started = LoopbackRedisCluster(directory, base_port=free_port_run(6))
    try:
        started.start()
        yield started
    finally:
        started.stop()
        shutil.rmtree(directory, ignore_errors=True)
