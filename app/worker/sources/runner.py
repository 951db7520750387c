"""Runs the sources of the `sources` table inside the worker.

- `sync()` (a worker job every few seconds) makes the scheduler's `source:<id>` jobs match
  the enabled sources, so an edit through the API takes effect without a restart.
- `run(source_id)` polls one source: it reloads the row (config and state as saved), runs
  the kind's poll in a thread of its own and waits at most the source's `timeout_s`. A poll
  past its deadline is a failure and is left behind: its late answer is dropped, and while
  it is still stuck the next runs are skipped and counted as failures, so a hanging source
  neither piles up threads nor holds the scheduler's pool.
- Points go through the ingest path (`live.enqueue`) first, and only then is the new state
  saved: a crash in between polls the same rows again, whose data_ids make the writer store
  them once.
- Several workers may schedule the same source; a Redis lease lets one of them poll it per
  interval.
- Health: each run records a success or a failure; the failure that makes the source down
  (DOWN_AFTER in a row) publishes one `source.down` event, and the success that ends a down
  spell one `source.up` (see `_report`).
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger
from redis.exceptions import RedisError

from app.metrics import SOURCE_POINTS, SOURCE_POLLS
from app.outbound import outbound_policy
from app.services import Services
from app.worker.sources import POLLERS
from app.worker.sources.base import PollContext, PollResult, SourceError
from data.domain.errors import Invalid
from data.domain.timefmt import iso_datetime
from data.stores.events import Events
from data.stores.sources import Source, SourceStore, parse_config

log = logging.getLogger(__name__)
JOB_PREFIX = "source:"
SOURCES_EXECUTOR = "sources"  # the worker's scheduler pool that only source polls use
SYNC_EVERY_S = 5.0

# Extends the lease only if this runner still holds it; ARGV[2] = 0 deletes it.
_LEASE_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) > 0 then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return redis.call('DEL', KEYS[1])
"""


class SourceRunner:
    """Schedules, runs under a deadline, and records the health of every source."""

    def __init__(
        self,
        services: Services,
        scheduler: BaseScheduler | None = None,
        executor: str = "default",
    ) -> None:
        self.services = services
        self.scheduler = scheduler
        self.executor = executor
        self.store = SourceStore(services.engine)
        self.events = Events(services.redis, services.settings.redis_prefix)
        self._stuck: dict[str, threading.Thread] = {}
        self._token = uuid.uuid4().hex
        self._lease = services.redis.register_script(_LEASE_LUA)

    # -- scheduling ------------------------------------------------------------------------

    def wanted(self) -> dict[str, float]:
        """{job id: interval_s} of every source that should run (demo ones with DEMO_DATA)."""
        kinds = [k for k in POLLERS if k != "demo" or self.services.settings.demo_data]
        return {JOB_PREFIX + sid: interval for sid, _, interval in self.store.enabled(kinds)}

    def sync(self) -> None:
        """Add, reschedule and remove the scheduler's source jobs to match the table."""
        assert self.scheduler is not None, "sync needs the scheduler"
        wanted = self.wanted()
        for job in self.scheduler.get_jobs():
            if job.id.startswith(JOB_PREFIX) and job.id not in wanted:
                job.remove()
        for job_id, interval in wanted.items():
            job = self.scheduler.get_job(job_id)
            trigger = IntervalTrigger(seconds=interval)
            if job is None:
                # Spread first runs so that sources created together do not poll in step
                # (APScheduler runs jobs by the real clock; a poll's time is Services.clock).
                first = datetime.now(UTC) + timedelta(seconds=random.uniform(0, min(interval, 2)))
                self.scheduler.add_job(
                    self.run,
                    trigger,
                    id=job_id,
                    args=[job_id.removeprefix(JOB_PREFIX)],
                    executor=self.executor,
                    next_run_time=first,
                    max_instances=1,
                    coalesce=True,
                    misfire_grace_time=max(1, int(interval)),
                )
            elif job.trigger.interval.total_seconds() != interval:
                job.reschedule(trigger)

    # -- one run -----------------------------------------------------------------------------

    def run(self, source_id: str) -> str:
        """Poll one source once; returns the outcome (ok, error, timeout, stuck, or why the
        run did not happen: gone, elsewhere)."""
        source = self.store.load(source_id)
        if source is None or not source.enabled:
            return "gone"
        stuck = self._stuck.get(source_id)
        if stuck is not None and stuck.is_alive():
            error = f"the previous poll is still running past its {source.timeout_s:g}s timeout"
            return self._failed(source, "stuck", error)
        self._stuck.pop(source_id, None)
        lease_key = f"{self.services.settings.redis_prefix}source-lease:{source_id}"
        lease_ms = int((source.timeout_s + 5) * 1000)
        if not self.services.redis.set(lease_key, self._token, nx=True, px=lease_ms):
            return "elsewhere"  # another worker polls it this interval
        started = time.monotonic()
        try:
            return self._poll(source)
        finally:
            # Keep the lease until this interval is over, so another worker skips it too.
            left_ms = int((source.interval_s * 0.9 - (time.monotonic() - started)) * 1000)
            with contextlib.suppress(RedisError):  # else the lease expires by itself
                self._lease(keys=[lease_key], args=[self._token, max(0, left_ms)])

    def _poll(self, source: Source) -> str:
        attempt = poll_once(self.services, source, f"source-{source.name}")
        if attempt.stuck is not None:
            self._stuck[source.source_id] = attempt.stuck
        if attempt.result is None:
            return self._failed(source, attempt.outcome, attempt.error or "")
        return self._deliver(source, attempt.result)

    def _deliver(self, source: Source, result: PollResult) -> str:
        """Queue the points, then save the state and the success."""
        try:
            if result.points:
                self.services.live.enqueue(source.tenant_id, result.points)
        except RedisError as exc:
            return self._failed(source, "error", f"points could not be queued: {exc}")
        SOURCE_POINTS.labels(source.kind).inc(len(result.points))
        if result.skipped:
            log.warning(
                "source %s (%s) skipped %d rows: %s",
                source.name,
                source.source_id,
                result.skipped,
                "; ".join(result.notes),
            )
        recovered = self.store.record_success(source, result.state, self._now())
        SOURCE_POLLS.labels(source.kind, "ok").inc()
        if recovered:
            self._report("source.up", source, None)
        return "ok"

    def _failed(self, source: Source, outcome: str, error: str) -> str:
        SOURCE_POLLS.labels(source.kind, outcome).inc()
        log.warning("source %s (%s) failed: %s", source.name, source.source_id, error)
        if self.store.record_failure(source.source_id, error, self._now()):
            self._report("source.down", source, error)
        return outcome

    def _report(self, event_type: str, source: Source, error: str | None) -> None:
        """Publish a health transition on the event stream (alert rules read it)."""
        log.warning("%s: source %s of tenant %s", event_type, source.name, source.tenant_id)
        try:
            self.events.publish(
                event_type,
                source.tenant_id,
                source_id=source.source_id,
                name=source.name,
                kind=source.kind,
                error=error,
                at=iso_datetime(self._now()),
            )
        except RedisError:
            log.exception("could not publish %s for source %s", event_type, source.source_id)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.services.now_ms() / 1000, UTC)


@dataclass(frozen=True, slots=True)
class PollAttempt:
    """One poll's end: its result, or its outcome ("error", "timeout") and what went wrong;
    `stuck` is the poll's thread when it outlived its timeout."""

    result: PollResult | None = None
    outcome: str = "ok"
    error: str | None = None
    stuck: threading.Thread | None = None


def poll_once(services: Services, source: Source, thread_name: str) -> PollAttempt:
    """Run one poll of `source` in a thread of its own, bounded by the source's timeout
    (a stuck poll is left behind, never waited for): the worker's scheduled polls and the
    admin page's "Test now" alike."""
    try:
        config = parse_config(source.kind, source.config)
    except Invalid as exc:
        return PollAttempt(outcome="error", error=f"invalid config: {exc}")
    settings = services.settings
    now_ms = services.now_ms()
    ctx = PollContext(
        source_id=source.source_id,
        tenant_id=source.tenant_id,
        name=source.name,
        now_ms=now_ms,
        oldest_ms=now_ms - settings.retention_raw_days * 86_400_000,
        timeout_s=source.timeout_s,
        files_dir=settings.files_dir / source.tenant_id,
        outbound=outbound_policy(settings),
    )
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = POLLERS[source.kind](config, dict(source.state), ctx)
        except Exception as exc:  # reported as the poll's error, never raised
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=thread_name, daemon=True)
    thread.start()
    thread.join(source.timeout_s)
    if thread.is_alive():
        error = f"no result within {source.timeout_s:g}s"
        return PollAttempt(outcome="timeout", error=error, stuck=thread)
    if "error" in outcome:
        return PollAttempt(outcome="error", error=_describe(outcome["error"]))
    return PollAttempt(result=outcome["result"])


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SourceError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"[:2000]
