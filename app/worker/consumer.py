"""The ingest consumer: reads the ingest stream, writes each batch once to PostgreSQL,
then publishes it live and acknowledges it, in order (README "Exactly once")."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from app.errors import is_outage
from app.metrics import (
    BATCH_WRITE_SECONDS,
    POINTS_WRITTEN,
    ROLLUP_DELAY_SECONDS,
)
from app.services import Services
from app.worker.alert_evaluator import AlertEngine, evaluate_alerts
from data.domain.points import Point
from data.stores.dead_letters import DeadLetters
from data.stores.ingest_queue import IngestEntry, PoisonEntry
from data.stores.point_writes import EntryRef, PreparedWrite, Written, point_key, prepare_write

log = logging.getLogger(__name__)
READ_COUNT = 100  # entries per read; each holds up to 1,000 points
CLAIM_EVERY_S = 5.0


class Consumer:
    """Moves points from the ingest stream to PostgreSQL, then to the live store, then acks."""

    def __init__(self, services: Services, name: str) -> None:
        self.services = services
        self.name = name
        self._holding_pending = True  # start by finishing what this name left unacknowledged
        self._last_claim = 0.0
        self.alerts = AlertEngine(services)

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set, riding out PostgreSQL and Redis outages.

        This name's own pending entries are finished one batch at a time; then new entries
        flow through a pipeline (`_pipelined`)."""
        backoff = 0.1
        while not stop.is_set():
            try:
                self.services.live.ensure_group()
                if self._holding_pending:
                    self.step(block_ms=0)
                else:
                    self._pipelined(stop)
                backoff = 0.1
            except Exception as exc:
                if is_outage(exc):  # expected while a server restarts: no traceback per retry
                    log.warning("consumer %s: %s; retrying in %.1fs", self.name, exc, backoff)
                else:
                    log.exception(
                        "consumer %s failed a step; retrying in %.1fs", self.name, backoff
                    )
                self._holding_pending = True
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def step(self, block_ms: int) -> int:
        """Handle one read of entries (pending, reclaimed or new); return how many points."""
        if self._holding_pending:
            entries, poison = self.services.live.read_ingest(self.name, READ_COUNT, 0, pending=True)
            if not entries and not poison:
                self._holding_pending = False
            return self.process(entries, poison)
        return self.process(*self._read_next(block_ms))

    def _read_next(self, block_ms: int) -> tuple[list[IngestEntry], list[PoisonEntry]]:
        """Entries stale in a dead consumer's hands (every CLAIM_EVERY_S), else new ones."""
        live = self.services.live
        if time.monotonic() - self._last_claim > CLAIM_EVERY_S:
            self._last_claim = time.monotonic()
            claimed = live.claim_stale(self.name, self.services.settings.claim_idle_ms, READ_COUNT)
            if claimed[0] or claimed[1]:
                return claimed
        return live.read_ingest(self.name, READ_COUNT, block_ms)

    def _pipelined(self, stop: threading.Event) -> None:
        """Commit batches while a reader thread reads, decodes and prepares the next one, so
        PostgreSQL is not left idle while the worker's Python works (the two overlap: the
        commit waits on PostgreSQL with the GIL released). Batches are committed, published
        and acknowledged in the order they were read. Returns when `stop` is set or when an
        entry must be read again from this name's pending list; raises what the reader
        raised. Entries the reader took but nobody committed stay pending for this name."""
        ready: queue.Queue[_Prepared | BaseException] = queue.Queue(maxsize=1)
        halt = threading.Event()
        reader = threading.Thread(
            target=self._read_ahead, args=(ready, halt), name=f"{self.name}-reader", daemon=True
        )
        reader.start()
        try:
            while not stop.is_set() and not self._holding_pending:
                try:
                    item = ready.get(timeout=0.5)
                except queue.Empty:
                    continue
                if isinstance(item, BaseException):
                    raise item
                self.process(item.entries, [], item.batch)
        finally:
            halt.set()
            with contextlib.suppress(queue.Empty):
                ready.get_nowait()  # unblock a reader waiting to hand over
            reader.join()

    def _read_ahead(
        self, ready: queue.Queue[_Prepared | BaseException], halt: threading.Event
    ) -> None:
        """The pipeline's reader: read, bury what cannot be decoded, prepare, hand over."""
        try:
            while not halt.is_set():
                entries, poison = self._read_next(block_ms=500)
                if poison:
                    DeadLetters(self.services.live).bury_undecodable(poison)
                if entries:
                    item = _Prepared(entries, _prepare(entries))
                    while not halt.is_set():
                        with contextlib.suppress(queue.Full):
                            ready.put(item, timeout=0.5)
                            break
        except BaseException as exc:  # handed to the committing thread, which raises it
            with contextlib.suppress(queue.Full):
                ready.put(exc, timeout=5)

    def process(
        self,
        entries: Sequence[IngestEntry],
        poison: Sequence[PoisonEntry],
        batch: PreparedWrite | None = None,
    ) -> int:
        """Commit the entries' points, publish the new ones, and only then acknowledge.

        An outage (PostgreSQL or Redis away) propagates, and the entries are retried. Data
        PostgreSQL refuses is traced to its entry, which is retried until it has been
        delivered `max_deliveries` times, then moved to the dead-letter stream."""
        if poison:
            DeadLetters(self.services.live).bury_undecodable(poison)
        if not entries:
            return 0
        try:
            return self._commit(entries, batch or _prepare(entries))
        except (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError) as exc:
            if len(entries) > 1:
                return sum(self.process([entry], []) for entry in entries)
            self._retry_or_bury(entries[0], exc)
            return 0

    def _retry_or_bury(self, entry: IngestEntry, exc: Exception) -> None:
        dead = DeadLetters(self.services.live)
        deliveries = dead.delivery_count(entry.entry_id, entry.stream)
        if deliveries >= self.services.settings.max_deliveries:
            log.error(
                "entry %s dead-lettered after %d deliveries: %s", entry.entry_id, deliveries, exc
            )
            dead.bury(entry, f"{type(exc).__name__}: {exc}", deliveries)
        else:
            self._holding_pending = True  # read it again (one more delivery) next step

    def _commit(self, entries: Sequence[IngestEntry], batch: PreparedWrite) -> int:
        live = self.services.live
        total = sum(len(e.points) for e in entries)
        with BATCH_WRITE_SECONDS.time():
            written = self.services.history.write_prepared(batch)
        # The wall clock, not the injected one: a metric measured against the entry ids,
        # which Redis stamps with its own real clock.
        committed_ms = time.time() * 1000
        for entry in entries:  # from acceptance (the entry id's time) to raw + rollups
            ROLLUP_DELAY_SECONDS.observe(max(0.0, committed_ms - _id_ms(entry.entry_id)) / 1000)
        POINTS_WRITTEN.labels("stored").inc(written.count)
        POINTS_WRITTEN.labels("duplicate").inc(total - written.count)
        if self.services.settings.fault_after_commit:
            os.kill(os.getpid(), signal.SIGKILL)  # fault injection for the exactly-once tests
        published = _to_publish(entries, written)
        for tenant, points in published.items():
            live.publish_points(tenant, points)
        evaluate_alerts(self.alerts, published)
        live.ack_entries(entries)
        return total


@dataclass(frozen=True, slots=True)
class _Prepared:
    """Entries read ahead, with their write prepared."""

    entries: list[IngestEntry]
    batch: PreparedWrite


def _prepare(entries: Sequence[IngestEntry]) -> PreparedWrite:
    """The entries' points as one batch write, with the books of each entry."""
    runs = [(e.tenant, e.points) for e in entries]
    return prepare_write(runs, [EntryRef(e.tenant, e.entry_id, len(e.points)) for e in entries])


def _id_ms(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])


def _to_publish(entries: Sequence[IngestEntry], written: Written) -> dict[str, list[Point]]:
    """New points per tenant. An entry stored by an earlier delivery is published again when
    it comes back redelivered (that delivery may have died between commit and publish;
    clients drop what they have), and not at all when another consumer stored it."""
    out: dict[str, list[Point]] = {}
    if written.keys is None and not written.stale:  # every point was new, each once
        for entry in entries:
            out.setdefault(entry.tenant, []).extend(entry.points)
        return out
    seen: set[str] = set()
    for entry in entries:
        if entry.entry_id in written.stale:
            if entry.redelivered:
                out.setdefault(entry.tenant, []).extend(entry.points)
            continue
        for p in entry.points:
            if p.data_id:
                key = point_key(entry.tenant, p)
                if key in seen or not written.is_new(entry.tenant, p):
                    continue
                seen.add(key)
            out.setdefault(entry.tenant, []).append(p)
    return out
