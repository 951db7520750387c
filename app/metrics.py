"""Pulse's own figures in Prometheus form, served at /metrics.

Counters and histograms live in the process that counts them; `python app.py` runs its
roles in several processes, so it points PROMETHEUS_MULTIPROC_DIR at a fresh directory and
/metrics adds up every process's files (prometheus_client's multiprocess mode). The state
of the pipeline (stream backlog, pending entries, dead letters) is read from Redis at scrape
time, so any web process reports the same, true numbers."""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from data.stores.accounting import last_reconcile
from data.stores.live import LiveStore
from data.stores.replica import ReplicaRouter
from data.stores.sources import SourceStore

POINTS_ACCEPTED = Counter("pulse_points_accepted", "Points accepted by POST /api/ingest")
POINTS_REFUSED = Counter("pulse_points_refused", "Points in refused ingest requests", ["reason"])
POINTS_WRITTEN = Counter(
    "pulse_points_written", "Points the worker stored, by outcome", ["outcome"]
)
BATCH_WRITE_SECONDS = Histogram(
    "pulse_batch_write_seconds",
    "Time to commit one batch of points with its rollups",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
ROLLUP_DELAY_SECONDS = Histogram(
    "pulse_rollup_delay_seconds",
    "From a point's acceptance (its ingest entry's id) to the commit of raw points + rollups",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
PARTITIONS_DROPPED = Counter(
    "pulse_partitions_dropped", "Time partitions dropped by retention, by table", ["table"]
)
SOURCE_POLLS = Counter(
    "pulse_source_polls",
    "Source polls by kind and outcome (ok, error, timeout, stuck)",
    ["kind", "outcome"],
)
SOURCE_POINTS = Counter("pulse_source_points", "Points the sources queued, by kind", ["kind"])
WS_CLIENTS = Gauge("pulse_ws_clients", "Open /ws connections", multiprocess_mode="livesum")
LONG_POLLS = Gauge(
    "pulse_long_polls", "GET /api/updates requests waiting", multiprocess_mode="livesum"
)
WS_FRAMES = Counter("pulse_ws_frames_offered", "Live frames offered to /ws clients")
ALERT_EVALUATIONS = Counter(
    "pulse_alert_evaluations", "(rule, series) evaluations: per batch, nodata check or event"
)
ALERT_TRANSITIONS = Counter(
    "pulse_alert_transitions", "Incidents that fired or resolved", ["state"]
)
NOTIFICATIONS_CREATED = Counter("pulse_notifications_created", "In-app notifications stored")
ALERT_DELIVERIES = Counter(
    "pulse_alert_deliveries",
    "Webhook and e-mail delivery attempts by channel and outcome (sent, retry, failed)",
    ["channel", "outcome"],
)


class PipelineCollector(Collector):
    """The ingest stream's state, read from Redis when scraped."""

    def __init__(self, live: LiveStore) -> None:
        self.live = live

    def collect(self) -> Iterator[Metric]:
        state = self.live.pipeline_state()
        yield GaugeMetricFamily(
            "pulse_stream_length", "Entries in the ingest stream", value=state["length"]
        )
        yield GaugeMetricFamily(
            "pulse_stream_pending",
            "Entries delivered to a writer, not yet acknowledged",
            value=state["pending"],
        )
        yield GaugeMetricFamily(
            "pulse_stream_lag", "Entries not yet delivered to any writer", value=state["lag"]
        )
        yield GaugeMetricFamily(
            "pulse_dead_letters", "Entries in the dead-letter stream", value=state["dead"]
        )
        yield GaugeMetricFamily(
            "pulse_stream_oldest_unacked_seconds",
            "Age of the oldest ingest entry not yet acknowledged (0 when none)",
            value=state["age_ms"] / 1000,
        )
        yield from self._reconcile()

    def _reconcile(self) -> Iterator[Metric]:
        """The figures of the last reconcile run, over all tenants."""
        last = last_reconcile(self.live)
        figures = {
            "unbalanced_minutes": "Settled minutes whose books do not balance",
            "behind": "Latest values the live store had behind PostgreSQL",
            "repaired": "Latest values repaired from PostgreSQL",
            "series_checked": "Series whose latest value was checked",
        }
        for name, doc in figures.items():
            yield GaugeMetricFamily(
                f"pulse_reconcile_{name}",
                f"{doc}, at the last reconcile run",
                value=last[name] if last else 0,
            )


class SourcesCollector(Collector):
    """Enabled sources per health status, read from PostgreSQL when scraped (so every
    process reports the same figures whichever worker polls the sources)."""

    def __init__(self, engine: Engine) -> None:
        self.store = SourceStore(engine)

    def collect(self) -> Iterator[Metric]:
        try:
            counts = self.store.health_counts()
        except SQLAlchemyError:
            return  # PostgreSQL away: /metrics still answers with everything else
        family = GaugeMetricFamily(
            "pulse_sources", "Enabled sources by health status", labels=["status"]
        )
        for status, count in sorted(counts.items()):
            family.add_metric([status], count)
        yield family


class ReplicaCollector(Collector):
    """The read replica's lag, measured when scraped (which also refreshes the router's)."""

    def __init__(self, reads: ReplicaRouter) -> None:
        self.reads = reads

    def collect(self) -> Iterator[Metric]:
        state = self.reads.measure()
        yield GaugeMetricFamily(
            "pulse_db_replica_up", "Whether the read replica answered", value=state.reachable
        )
        if state.reachable:
            yield GaugeMetricFamily(
                "pulse_db_replica_lag_seconds",
                "How far the read replica's replay is behind (0 when nothing waits replay)",
                value=state.lag_s,
            )
        yield GaugeMetricFamily(
            "pulse_db_replica_used",
            "Whether history reads go to the replica (1) or fall back to the primary (0)",
            value=state.lag_s <= self.reads.max_lag_s,
        )


class _ThisProcess(Collector):
    """The metrics counted in this process (when there is no multiprocess directory)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def exposition(
    live: LiveStore, engine: Engine | None = None, reads: ReplicaRouter | None = None
) -> tuple[bytes, str]:
    """The /metrics body and its content type."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(PipelineCollector(live))
    if engine is not None:
        registry.register(SourcesCollector(engine))
    if reads is not None and reads.replica is not None:
        registry.register(ReplicaCollector(reads))
    return generate_latest(registry), CONTENT_TYPE_LATEST
