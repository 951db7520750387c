"""Time partitions: the 0002 migration keeps every row, writes land in their day's partition
exactly once, retention drops whole partitions past each tier's age and nothing newer, and
a write for a day without a partition still succeeds."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text

from app.services import Services
from app.settings import Settings
from app.worker.jobs import maintain_partitions, scheduled_jobs
from data.domain.points import Point
from data.stores.db import MIGRATIONS
from data.stores.history import HistoryStore, to_ms
from data.stores.partitions import (
    HOUR,
    MINUTE,
    RAW,
    TIERS,
    Retention,
    apply_retention,
    ensure_partitions,
    ensure_window,
    include_name,
    list_partitions,
)
from data.stores.schema import metadata
from data.stores.schema_accounts import api_keys  # noqa: F401  (its tables on metadata)
from data.stores.schema_embeds import embed_tokens  # noqa: F401  (its table on metadata)
from data.stores.schema_homes import tenant_homes  # noqa: F401  (its table on metadata)
from data.stores.schema_invites import invites  # noqa: F401  (its tables on metadata)
from tests.conftest import scratch_database

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def at(text_ts: str) -> datetime:
    return datetime.fromisoformat(text_ts).replace(tzinfo=UTC)


def upgrade(engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


@pytest.fixture
def fresh_db(settings: Settings) -> Iterator[Callable[..., Services]]:
    """Services on a new, empty database of the test's own (retention here drops partitions
    the rest of the session relies on): migrated to head unless told a revision."""
    built: list[Services] = []
    with scratch_database(settings, "pulse_parts") as url:

        def build(revision: str = "head", **overrides: object) -> Services:
            svc = Services.build(settings.model_copy(update={"database_url": url, **overrides}))
            upgrade(svc.engine, revision)
            built.append(svc)
            return svc

        try:
            yield build
        finally:
            for svc in built:
                svc.close()


def new_tenant(engine: Engine) -> str:
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO tenants (tenant_id, name) VALUES (:t, :t)"), {"t": tenant})
    return tenant


def point(ts: datetime, value: float = 1.0, data_id: str | None = None) -> Point:
    return Point(data_id or uuid.uuid4().hex, "web-1", "cpu.usage", to_ms(ts), value)


def store_as_0001(engine: Engine, tenant: str, points: list[Point]) -> None:
    """Points and one-point rollups written as a 0001 database holds them."""
    insert_point = text(
        "INSERT INTO points (tenant_id, data_id, source, metric_type, ts, value) "
        "VALUES (:t, :d, :s, :m, :ts, :v)"
    )
    with engine.begin() as conn:
        for p in points:
            ts = datetime.fromtimestamp(p.ts_ms / 1000, tz=UTC)
            row = {
                "t": tenant,
                "d": p.data_id,
                "s": p.source,
                "m": p.metric,
                "ts": ts,
                "v": p.value,
            }
            conn.execute(insert_point, row)
            for table, unit in (("rollup_1m", "minute"), ("rollup_1h", "hour")):
                conn.execute(
                    text(
                        f"INSERT INTO {table} VALUES (:t, :m, :s, date_trunc('{unit}', :ts, "
                        "'UTC'), 1, :v, :v, :v, :v, :ts)"
                    ),
                    row,
                )


def rows_per_partition(engine: Engine, table: str, tenant: str) -> dict[str, int]:
    query = text(
        f"SELECT tableoid::regclass::text, count(*) FROM {table} WHERE tenant_id = :t GROUP BY 1"
    )
    with engine.connect() as conn:
        return {name: count for name, count in conn.execute(query, {"t": tenant})}


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def partition_names(engine: Engine) -> dict[str, list[str]]:
    with engine.connect() as conn:
        return {tier.table: [p.name for p in list_partitions(conn, tier)] for tier in TIERS}


def test_schema_module_mirrors_the_migrated_database(services: Services) -> None:
    """data/stores/schema.py and the migrations describe the same tables, indexes and partitioning
    (the partitions themselves are data and are left out)."""
    with services.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": include_name}
        )
        assert compare_metadata(context, metadata) == []
        partitioned = dict(
            conn.execute(
                text(
                    "SELECT c.relname, pg_get_partkeydef(c.oid) FROM pg_partitioned_table p "
                    "JOIN pg_class c ON c.oid = p.partrelid"
                )
            ).all()
        )
    declared = {
        table.name: table.dialect_options["postgresql"]["partition_by"]
        for table in metadata.tables.values()
        if table.dialect_options["postgresql"]["partition_by"]
    }
    assert (
        partitioned
        == declared
        == {
            "points": "RANGE (ts)",
            "rollup_1m": "RANGE (bucket)",
            "rollup_1h": "RANGE (bucket)",
        }
    )


def test_migrating_0001_rows_to_partitions_keeps_every_row_and_idempotency(
    fresh_db: Callable[..., Services],
) -> None:
    """Rows stored before 0002 (years apart, and today) are all in their partitions after it,
    with their rollups, and resending them stores nothing."""
    svc = fresh_db("0001")
    tenant = new_tenant(svc.engine)
    now = datetime.now(UTC)
    old = [point(at("2024-02-29T23:59:59.999"), 1.5), point(at("2025-07-01T00:00:00"), -2.0)]
    recent = [point(now - timedelta(days=2), 3.0), point(now, 4.0)]
    store_as_0001(svc.engine, tenant, old + recent)
    before = {t: count(svc.engine, t) for t in ("points", "rollup_1m", "rollup_1h")}
    with svc.engine.connect() as conn:
        snapshot = conn.execute(text("SELECT * FROM points ORDER BY data_id")).all()
        minutes = conn.execute(text("SELECT * FROM rollup_1m ORDER BY bucket")).all()

    upgrade(svc.engine, "head")

    assert (
        {t: count(svc.engine, t) for t in before}
        == before
        == {"points": 4, "rollup_1m": 4, "rollup_1h": 4}
    )
    with svc.engine.connect() as conn:
        assert conn.execute(text("SELECT * FROM points ORDER BY data_id")).all() == snapshot
        assert conn.execute(text("SELECT * FROM rollup_1m ORDER BY bucket")).all() == minutes
    placed = rows_per_partition(svc.engine, "points", tenant)
    assert placed["points_p20240229"] == 1 and placed["points_p20250701"] == 1
    assert sum(placed.values()) == 4
    assert set(rows_per_partition(svc.engine, "rollup_1h", tenant)) >= {
        "rollup_1h_p202402",
        "rollup_1h_p202507",
    }
    # today's ingest window has its partitions, and the old rows are still one each
    names = partition_names(svc.engine)
    assert RAW.partition_name(RAW.period_start(now + timedelta(days=2))) in names["points"]
    assert svc.history.write_points([(tenant, p) for p in old + recent]).count == 0
    assert count(svc.engine, "points") == 4
    with svc.engine.connect() as conn:
        assert conn.execute(text("SELECT * FROM rollup_1m ORDER BY bucket")).all() == minutes

    downgrade(svc.engine, "0001")  # and back: still every row, in plain tables
    assert {t: count(svc.engine, t) for t in before} == before
    with svc.engine.connect() as conn:
        assert conn.execute(text("SELECT * FROM points ORDER BY data_id")).all() == snapshot
        assert partition_names(svc.engine) == {t.table: [] for t in TIERS}


def test_points_of_several_days_land_in_their_day_and_a_redelivery_stores_nothing_twice(
    services: Services, tenant: str
) -> None:
    now = datetime.fromtimestamp(services.now_ms() / 1000, tz=UTC)
    days = [now - timedelta(days=back) for back in (6, 2, 1, 0)]
    batch = [(tenant, point(day, float(i))) for i, day in enumerate(days)]
    batch += [(tenant, point(days[-1] - timedelta(seconds=1), 9.0))]

    assert services.history.write_points(batch).count == len(batch)
    expected = {f"points_p{day:%Y%m%d}": 1 for day in days}
    expected[f"points_p{days[-1] - timedelta(seconds=1):%Y%m%d}"] += 1
    assert rows_per_partition(services.engine, "points", tenant) == expected
    minutes = rows_per_partition(services.engine, "rollup_1m", tenant)

    assert services.history.write_points(batch[::-1]).count == 0  # redelivered, reordered
    assert rows_per_partition(services.engine, "points", tenant) == expected
    assert rows_per_partition(services.engine, "rollup_1m", tenant) == minutes
    with services.engine.connect() as conn:
        total = conn.execute(
            text("SELECT sum(count) FROM rollup_1h WHERE tenant_id = :t"), {"t": tenant}
        ).scalar_one()
    assert total == len(batch)


def test_retention_drops_each_tier_past_its_age_and_nothing_newer(
    fresh_db: Callable[..., Services],
) -> None:
    """With now = 2026-06-15 12:00 and the default retention, the cutoffs are 2026-06-01 12:00
    (raw, by day), 2026-03-17 12:00 (1 minute, by month) and 2024-06-15 12:00 (1 hour, by
    month): a partition goes only when its whole range is older; the one holding the cutoff
    stays, rows older than the cutoff included."""
    svc = fresh_db()
    history = HistoryStore(svc.engine)
    tenant = new_tenant(svc.engine)
    stamps = [
        "2024-05-20T10:00",
        "2024-06-10T10:00",
        "2026-02-20T10:00",
        "2026-03-10T10:00",
        "2026-05-31T23:59:59.999",
        "2026-06-01T06:00",
        "2026-06-10T10:00",
        "2026-06-15T11:00",
    ]
    history.write_points([(tenant, point(at(s))) for s in stamps])
    assert (count(svc.engine, "points"), count(svc.engine, "rollup_1m")) == (8, 8)

    dropped = apply_retention(svc.engine, NOW, Retention())

    assert sorted(p.name for p in dropped) == sorted(
        [
            "points_p20240520",
            "points_p20240610",
            "points_p20260220",
            "points_p20260310",
            "points_p20260531",
            "rollup_1m_p202405",
            "rollup_1m_p202406",
            "rollup_1m_p202602",
            "rollup_1h_p202405",
        ]
    )
    assert rows_per_partition(svc.engine, "points", tenant) == {
        "points_p20260601": 1,
        "points_p20260610": 1,
        "points_p20260615": 1,
    }
    assert count(svc.engine, "rollup_1m") == 5  # from 2026-03-10 on
    assert count(svc.engine, "rollup_1h") == 7  # from 2024-06-10 on
    names = partition_names(svc.engine)
    assert "points_p20260601" in names["points"]  # holds the cutoff: kept
    assert "rollup_1m_p202603" in names["rollup_1m"]
    assert "rollup_1h_p202406" in names["rollup_1h"]
    assert apply_retention(svc.engine, NOW, Retention()) == []  # nothing more to drop


def test_the_worker_job_keeps_the_ingest_window_and_drops_past_retention(
    fresh_db: Callable[..., Services],
) -> None:
    """The hourly job (with its clock and the configured retention) makes partitions for
    everything ingest accepts, drops what is past the raw retention, and counts it."""
    svc = fresh_db(retention_raw_days=3, retention_1m_days=40, retention_1h_days=400)
    svc.clock = NOW.timestamp
    assert ("partitions", maintain_partitions) in [(j[0], j[1]) for j in scheduled_jobs(svc)]
    history = HistoryStore(svc.engine)
    tenant = new_tenant(svc.engine)
    history.write_points([(tenant, point(NOW - timedelta(days=d))) for d in range(6)])

    dropped = maintain_partitions(svc)

    raw_dropped = sorted(p.name for p in dropped if p.table == "points")
    assert raw_dropped == ["points_p20260610", "points_p20260611"]
    # 3 days back from 06-15 12:00 is 06-12 12:00: 06-12 is the oldest kept, up to 3 days ahead
    kept = [n for n in partition_names(svc.engine)["points"] if n <= "points_p20260618"]
    assert kept == [f"points_p202606{d}" for d in range(12, 19)]
    assert rows_per_partition(svc.engine, "points", tenant) == {
        f"points_p202606{d}": 1 for d in (12, 13, 14, 15)
    }
    assert maintain_partitions(svc) == []


def test_a_point_for_a_day_without_partition_is_still_stored(
    services: Services, tenant: str
) -> None:
    """Safety net: no partition for 1999 exists in any tier; the write creates them, once."""
    lost = [point(at("1999-12-31T23:59:59"), 5.0), point(at("2000-01-01T00:00:00"), 6.0)]
    with services.engine.connect() as conn:
        assert not any(p.start.year < 2001 for p in list_partitions(conn, RAW))

    assert services.history.write_points([(tenant, p) for p in lost]).count == 2

    assert rows_per_partition(services.engine, "points", tenant) == {
        "points_p19991231": 1,
        "points_p20000101": 1,
    }
    assert set(rows_per_partition(services.engine, "rollup_1h", tenant)) == {
        "rollup_1h_p199912",
        "rollup_1h_p200001",
    }
    assert services.history.write_points([(tenant, p) for p in lost]).count == 0


def test_two_processes_ensuring_the_same_partitions_at_once_both_succeed(
    fresh_db: Callable[..., Services],
) -> None:
    svc = fresh_db()
    other = Services.build(svc.settings)
    try:
        errors: list[BaseException] = []
        created: list[list[str]] = []
        start = threading.Barrier(4)

        def ensure(engine: Engine, tier_index: int) -> None:
            try:
                start.wait()
                tier = TIERS[tier_index]
                created.append(ensure_partitions(engine, tier, at("2030-01-01"), at("2030-03-31")))
                ensure_window(engine, at("2031-01-01"), Retention())
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [
            threading.Thread(target=ensure, args=(engine, 0))
            for engine in (svc.engine, other.engine, svc.engine, other.engine)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        made = [name for names in created for name in names]
        assert sorted(made) == sorted(set(made))  # each partition created by one of them
        assert len(made) == 90  # every day of 2030-01-01 .. 2030-03-31
        names = partition_names(svc.engine)
        assert {MINUTE.partition_name(at("2030-12-01")), HOUR.partition_name(at("2031-01-01"))} <= {
            *names["rollup_1m"],
            *names["rollup_1h"],
        }
    finally:
        other.close()


def test_partition_bounds_read_the_same_in_any_session_time_zone(services: Services) -> None:
    """The catalog prints bounds in the session's zone; they are read back as the same instants."""
    readings = []
    for zone in ("UTC", "Asia/Kolkata", "America/St_Johns", "Europe/Amsterdam"):
        with services.engine.connect() as conn:
            conn.execute(text(f"SET LOCAL TimeZone = '{zone}'"))
            readings.append(list_partitions(conn, RAW))
    assert readings[0] and all(reading == readings[0] for reading in readings)
    assert all(p.start == RAW.period_start(p.start) for p in readings[0])
    assert all(p.name == RAW.partition_name(p.start) for p in readings[0])
