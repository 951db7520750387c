"""The worker role: its scheduled jobs (trim, books, partitions, alerts, deliveries, the
sources' polls) around the ingest consumer, until SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from app.errors import is_outage
from app.metrics import PARTITIONS_DROPPED
from app.services import Services
from app.settings import Settings
from app.worker.alert_evaluator import AlertEngine
from app.worker.band_evaluator import BAND_EVERY_S, BandEvaluator, check_forecast_bands
from app.worker.consumer import Consumer
from app.worker.deliveries import Deliverer
from app.worker.sources.runner import SOURCES_EXECUTOR, SYNC_EVERY_S, SourceRunner
from data.domain.timefmt import to_datetime
from data.stores.accounting import Accounting
from data.stores.db import migrate
from data.stores.partitions import Partition, Retention, apply_retention, ensure_window

log = logging.getLogger(__name__)
SCHEDULER_THREADS = 16  # the worker's own jobs; sources have SOURCE_POLL_THREADS


def trim_ingest(services: Services) -> None:
    """Keep the ingest stream to what some consumer group has yet to acknowledge."""
    services.live.trim_acknowledged()


def reconcile_latest(services: Services, window_s: int = 3_600) -> int:
    """Check each tenant's books (accepted = stored + duplicates + dead-lettered once a
    minute is settled) and repair the live store's latest values from PostgreSQL where they
    fell behind (a worker that died between commit and publish, a Redis restarted without
    its data); the results are kept in Redis for the API and /metrics. Return how many
    latest values were repaired."""
    accounting = Accounting(services.live, services.engine)
    summary, results = accounting.reconcile(services.history, services.now_ms(), window_s)
    for tenant, result in results.items():
        if result.unbalanced_minutes:
            log.warning(
                "tenant %s: %d settled minute(s) whose books do not balance, first %s",
                tenant,
                result.unbalanced_minutes,
                result.unbalanced[0],
            )
    if summary.repaired:
        log.warning("repaired %d latest values from PostgreSQL", summary.repaired)
    return summary.repaired


def prune_books(services: Services) -> int:
    """Forget the PostgreSQL books older than the raw retention (and a day)."""
    keep_ms = (services.settings.retention_raw_days + 1) * 86_400_000
    return Accounting(services.live, services.engine).prune(services.now_ms() - keep_ms)


def maintain_partitions(services: Services) -> list[Partition]:
    """Make the partitions of everything ingest can accept, then drop those past retention."""
    settings = services.settings
    retention = Retention(
        settings.retention_raw_days, settings.retention_1m_days, settings.retention_1h_days
    )
    now = to_datetime(services.now_ms())
    ensure_window(services.engine, now, retention)
    dropped = apply_retention(services.engine, now, retention)
    for partition in dropped:
        PARTITIONS_DROPPED.labels(partition.table).inc()
    return dropped


def check_nodata(services: Services, alerts: AlertEngine) -> None:
    """Judge the nodata rules against the newest point of each series."""
    alerts.check_nodata()


def consume_source_events(services: Services, alerts: AlertEngine, consumer: str) -> None:
    """Judge the pipeline's source.down/source.up events for nodata rules that ask for them."""
    alerts.consume_events(consumer)


def deliver_alerts(services: Services, deliverer: Deliverer) -> None:
    """Send the due webhooks and e-mails of incidents (off the write path)."""
    deliverer.run_once()


def scheduled_jobs(
    services: Services,
) -> list[tuple[str, Callable[..., Any], IntervalTrigger, list[Any]]]:
    """The worker's jobs as (id, function, trigger, args)."""
    alerts = AlertEngine(services)
    consumer = f"{socket.gethostname()}-{os.getpid()}"
    jobs: list[tuple[str, Callable[..., Any], IntervalTrigger, list[Any]]] = [
        ("trim-ingest", trim_ingest, IntervalTrigger(seconds=10), []),
        ("reconcile-latest", reconcile_latest, IntervalTrigger(seconds=60), []),
        ("prune-books", prune_books, IntervalTrigger(hours=1), []),
        ("partitions", maintain_partitions, IntervalTrigger(hours=1), []),
        ("alerts-nodata", check_nodata, IntervalTrigger(seconds=2), [alerts]),
        ("alerts-events", consume_source_events, IntervalTrigger(seconds=1), [alerts, consumer]),
        (
            "alerts-forecast-band",
            check_forecast_bands,
            IntervalTrigger(seconds=BAND_EVERY_S),
            [BandEvaluator(alerts)],
        ),
        ("alerts-deliver", deliver_alerts, IntervalTrigger(seconds=1), [Deliverer(services)]),
    ]
    return jobs


def _migrate_when_reachable(services: Services, stop: threading.Event) -> bool:
    """Migrate, waiting out a PostgreSQL that is down or restarting (a worker started, or
    restarted by its supervisor, during an outage keeps trying rather than crash-looping);
    False if `stop` was set first."""
    backoff = 0.5
    while not stop.is_set():
        try:
            migrate(services.engine)
            return True
        except Exception as exc:
            if not is_outage(exc):
                raise
            log.warning("PostgreSQL unreachable (%s); retrying in %.1fs", exc, backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, 5.0)
    return False


def run_worker(settings: Settings, stop: threading.Event | None = None) -> None:
    """Run the worker role until SIGTERM/SIGINT (or `stop`)."""
    services = Services.build(settings)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    if not _migrate_when_reachable(services, stop):
        services.close()
        return
    try:
        maintain_partitions(services)
    except Exception:  # a lock not granted in time: the hourly job and the write path retry
        log.exception("partition maintenance failed at start")
    scheduler = BackgroundScheduler(
        timezone="UTC",
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 5},
        executors={
            "default": ThreadPoolExecutor(SCHEDULER_THREADS),
            # Tenants' polls get threads of their own: slow sources can fill this pool,
            # never the one that runs alert delivery, nodata and partition jobs.
            SOURCES_EXECUTOR: ThreadPoolExecutor(settings.source_poll_threads),
        },
    )
    for job_id, func, trigger, args in scheduled_jobs(services):
        scheduler.add_job(func, trigger, id=job_id, args=[services, *args])
    # Sources come from the table: the sync job adds, changes and removes their jobs.
    runner = SourceRunner(services, scheduler, executor=SOURCES_EXECUTOR)
    scheduler.add_job(
        runner.sync,
        IntervalTrigger(seconds=SYNC_EVERY_S),
        id="sources-sync",
        next_run_time=datetime.now(UTC),  # at once, by APScheduler's own (real) clock
    )
    scheduler.start()
    try:
        _consume(services, stop)
    finally:
        scheduler.shutdown(wait=False)
        services.close()


def _consume(services: Services, stop: threading.Event) -> None:
    """Run INGEST_WRITERS consumers until `stop`: one here, the others on threads of their
    own. Each has its own name in the group, so each finishes its own pending entries."""
    base = f"{socket.gethostname()}-{os.getpid()}"
    names = [base] + [f"{base}-{i}" for i in range(1, services.settings.ingest_writers)]
    log.info("worker %s consuming %s with %d writers", base, services.live.ingest_key, len(names))
    others = [
        threading.Thread(target=Consumer(services, name).run, args=(stop,), name=name)
        for name in names[1:]
    ]
    for thread in others:
        thread.start()
    try:
        Consumer(services, names[0]).run(stop)
    finally:
        stop.set()
        for thread in others:
            thread.join()
