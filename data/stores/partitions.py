"""Time partitions of the raw points and the rollups: created ahead, listed, dropped by age.

Each tier is a table partitioned by range of its time column. Retention drops whole
partitions (a DROP TABLE: no DELETE, no vacuum, no bloat), so a row is kept at least its
tier's retention and at most one partition width longer:

- `points`, by day (`points_p20261128`): raw retention is counted in days (14 by default);
- `rollup_1m` and `rollup_1h`, by month (`rollup_1m_p202611`): their rows are far fewer,
  and months keep the partition count small (a few for 90 days, about 25 for two years)
  while overshooting their retention by under a month.

Partitions are made ahead of need (at migration, worker start and every hour), only for
what is missing, under an advisory lock (two workers at once never race); they are attached,
which lets writes and reads of the parent go on. Dropping one takes an exclusive lock on the
parent, briefly, under a lock timeout (a long reader delays retention to the next run rather
than stalling the writers queued behind the DROP). There is no DEFAULT partition: rows landing in
it would block later creation of the partition for their range. Instead, a write that finds
no partition creates it and retries once (data.stores.history).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

AHEAD = timedelta(days=3)  # partitions exist this far past now (the job runs hourly)
LOCK_TIMEOUT = "5s"
# Any constant will do: it serialises partition changes between processes.
_PARTITION_LOCK = 0x50415254


@dataclass(frozen=True, slots=True)
class Tier:
    """A table partitioned by range of `column`, one partition per `unit`."""

    table: str
    column: str
    unit: Literal["day", "month"]

    def period_start(self, at: datetime) -> datetime:
        """The start (UTC) of the partition period holding `at`."""
        at = at.astimezone(UTC)
        day = datetime(at.year, at.month, at.day, tzinfo=UTC)
        return day if self.unit == "day" else day.replace(day=1)

    def period_end(self, start: datetime) -> datetime:
        """The start of the period after the one starting at `start`."""
        if self.unit == "day":
            return start + timedelta(days=1)
        return (start + timedelta(days=32)).replace(day=1)

    def partition_name(self, start: datetime) -> str:
        """`points_p20261128`, `rollup_1m_p202611`."""
        return f"{self.table}_p{start.strftime('%Y%m%d' if self.unit == 'day' else '%Y%m')}"

    def periods(self, first: datetime, last: datetime) -> list[datetime]:
        """Starts of every period from the one holding `first` to the one holding `last`."""
        starts = []
        start = self.period_start(first)
        while start <= last:
            starts.append(start)
            start = self.period_end(start)
        return starts


RAW = Tier("points", "ts", "day")
MINUTE = Tier("rollup_1m", "bucket", "month")
HOUR = Tier("rollup_1h", "bucket", "month")
TIERS = (RAW, MINUTE, HOUR)
_PARTITION_NAME = re.compile(
    "^(" + "|".join(re.escape(t.table) for t in TIERS) + r")_p(\d{8}|\d{6})$"
)


@dataclass(frozen=True, slots=True)
class Retention:
    """How many days each tier keeps its rows."""

    raw_days: int = 14
    minute_days: int = 90
    hour_days: int = 730

    def days(self, tier: Tier) -> int:
        return {RAW: self.raw_days, MINUTE: self.minute_days, HOUR: self.hour_days}[tier]


@dataclass(frozen=True, slots=True)
class Partition:
    """One partition of `table` as the catalog describes it: rows with start <= key < end."""

    table: str
    name: str
    start: datetime
    end: datetime


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's filter for schema comparisons: the partitions made here are left out (they
    are data, made at run time; their parents and indexes are compared)."""
    return not (type_ == "table" and name is not None and _PARTITION_NAME.match(name))


_BOUNDS = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


def list_partitions(conn: Connection, tier: Tier) -> list[Partition]:
    """The tier's partitions with their bounds, read from the catalog, oldest first."""
    rows = conn.execute(
        text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:parent AS regclass)"
        ),
        {"parent": tier.table},
    ).all()
    found = []
    for name, bound in rows:
        match = _BOUNDS.search(bound or "")
        if match is None:  # DEFAULT or MINVALUE/MAXVALUE: not one of ours, never touched
            continue
        # printed in the session's TimeZone, always with its offset
        start, end = (datetime.fromisoformat(value) for value in match.groups())
        found.append(Partition(tier.table, name, start, end))
    return sorted(found, key=lambda p: p.start)


def create_partitions(conn: Connection, tier: Tier, starts: Iterable[datetime]) -> list[str]:
    """Create the partitions of the periods starting at `starts` that no partition covers yet,
    inside the caller's transaction; return the names created."""
    wanted = sorted({tier.period_start(start) for start in starts})
    if not wanted:
        return []
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PARTITION_LOCK})
    existing = list_partitions(conn, tier)
    created = []
    for start in wanted:
        end = tier.period_end(start)
        if any(p.start < end and start < p.end for p in existing):
            continue  # covered (or overlapped by a partition made by hand: leave it be)
        name = tier.partition_name(start)
        # CREATE then ATTACH rather than CREATE ... PARTITION OF: attaching takes a lock on
        # the parent that lets writes and reads go on, and the new table is empty to check.
        conn.execute(
            text(
                f'CREATE TABLE "{name}" '
                f'(LIKE "{tier.table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
            )
        )
        conn.execute(
            text(
                f'ALTER TABLE "{tier.table}" ATTACH PARTITION "{name}" '
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
        )
        created.append(name)
    return created


def ensure_partitions(engine: Engine, tier: Tier, first: datetime, last: datetime) -> list[str]:
    """Make sure partitions cover [first, last] for the tier; return the names created."""
    periods = tier.periods(first, last)
    with engine.connect() as conn:  # cheap check first: usually nothing is missing
        if _covered(list_partitions(conn, tier), tier, periods):
            return []
    with engine.begin() as conn:
        _lock_timeout(conn)
        created = create_partitions(conn, tier, periods)
    if created:
        log.info("created partitions %s", ", ".join(created))
    return created


def ensure_window(engine: Engine, now: datetime, retention: Retention) -> list[str]:
    """Partitions for every point ingest can accept now (back to the raw retention, up to
    AHEAD from now), for the raw table and both rollups."""
    created = []
    for tier in TIERS:
        back = timedelta(days=min(retention.raw_days, retention.days(tier)))
        created += ensure_partitions(engine, tier, now - back, now + AHEAD)
    return created


def ensure_for_times(engine: Engine, times_ms: Iterable[int]) -> list[str]:
    """Partitions of every tier for exactly the periods holding these epoch-ms timestamps
    (the safety net of a write that found none)."""
    days = {datetime.fromtimestamp(ms // 86_400_000 * 86_400, tz=UTC) for ms in times_ms}
    if not days:
        return []
    with engine.begin() as conn:
        _lock_timeout(conn)
        created = [name for tier in TIERS for name in create_partitions(conn, tier, days)]
    if created:
        log.warning("created missing partitions %s for a write", ", ".join(created))
    return created


def drop_expired(engine: Engine, tier: Tier, cutoff: datetime) -> list[Partition]:
    """Drop the tier's partitions whose every row is older than `cutoff` (end <= cutoff),
    and only those; return what was dropped."""
    with engine.connect() as conn:
        if not any(p.end <= cutoff for p in list_partitions(conn, tier)):
            return []
    with engine.begin() as conn:
        _lock_timeout(conn)
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PARTITION_LOCK})
        expired = [p for p in list_partitions(conn, tier) if p.end <= cutoff]
        for partition in expired:
            conn.execute(text(f'DROP TABLE "{partition.name}"'))
    return expired


def apply_retention(engine: Engine, now: datetime, retention: Retention) -> list[Partition]:
    """Drop every tier's partitions that lie wholly past its retention; return them."""
    dropped = []
    for tier in TIERS:
        gone = drop_expired(engine, tier, now - timedelta(days=retention.days(tier)))
        for partition in gone:
            log.info(
                "retention dropped %s (%s to %s)",
                partition.name,
                partition.start.isoformat(),
                partition.end.isoformat(),
            )
        dropped += gone
    return dropped


def _covered(existing: list[Partition], tier: Tier, starts: list[datetime]) -> bool:
    return all(
        any(p.start <= start and tier.period_end(start) <= p.end for p in existing)
        for start in starts
    )


def _lock_timeout(conn: Connection) -> None:
    """Give up on a lock after LOCK_TIMEOUT, in a transaction of this module's own (the
    migration's transaction, shared with later revisions, is left as it is)."""
    conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
