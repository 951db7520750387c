"""points, rollup_1m and rollup_1h partitioned by time

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 01:45:00

Each table is renamed aside, recreated as PARTITION BY RANGE of its time column with the
same indexes, given partitions for every period holding a row (and for what ingest can
accept now), filled from the old table, and the old one dropped: every row survives.

The idempotency key of points becomes (tenant_id, metric_type, source, ts, data_id): a
unique index of a partitioned table must hold the partition key, and a resend or redelivery
carries the point's own series and ts, so it still conflicts and is stored once. The same
index serves reads of a series over time, so each inserted row updates one btree, not two.
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from data.stores.partitions import AHEAD, HOUR, MINUTE, RAW, Retention, Tier, create_partitions

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ROLLUP_COLUMNS = "tenant_id, metric_type, source, bucket, count, sum, min, max, last, last_ts"
_POINT_COLUMNS = "tenant_id, data_id, source, metric_type, ts, value, received_at"


def _points_table() -> None:
    op.create_table(
        "points",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("data_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("metric_type", sa.String(length=128), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        postgresql_partition_by="RANGE (ts)",
    )
    op.create_index(
        "uq_points_series_ts_data_id",
        "points",
        ["tenant_id", "metric_type", "source", "ts", "data_id"],
        unique=True,
    )
    op.create_index("ix_points_ts_brin", "points", ["ts"], unique=False, postgresql_using="brin")


def _rollup_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("metric_type", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("sum", sa.Float(precision=53), nullable=False),
        sa.Column("min", sa.Float(precision=53), nullable=False),
        sa.Column("max", sa.Float(precision=53), nullable=False),
        sa.Column("last", sa.Float(precision=53), nullable=False),
        sa.Column("last_ts", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "metric_type", "source", "bucket", name=f"pk_{name}"),
        postgresql_partition_by="RANGE (bucket)",
    )
    op.create_index(
        f"ix_{name}_bucket_brin", name, ["bucket"], unique=False, postgresql_using="brin"
    )


def _move_aside(table: str, indexes: list[str]) -> str:
    """Rename a table out of the way and free its index names; return the new name."""
    old = f"{table}_0001"
    op.rename_table(table, old)
    for index in indexes:
        op.execute(f'ALTER INDEX "{index}" RENAME TO "{index}_0001"')
    return old


def _fill(tier: Tier, old: str, columns: str) -> None:
    """Partitions for every period of the old rows and for today's ingest window, then copy."""
    conn = op.get_bind()
    held = conn.execute(
        sa.text(f"SELECT DISTINCT date_trunc('day', {tier.column}, 'UTC') FROM {old}")
    ).scalars()
    now = datetime.now(UTC)
    window = tier.periods(now - timedelta(days=Retention().raw_days), now + AHEAD)
    create_partitions(conn, tier, [*held, *window])
    op.execute(f"INSERT INTO {tier.table} ({columns}) SELECT {columns} FROM {old}")
    op.drop_table(old)


def upgrade() -> None:
    old = _move_aside("points", ["ix_points_series_ts", "ix_points_ts_brin"])
    op.drop_index("uq_points_tenant_data_id", table_name=old)
    _points_table()
    _fill(RAW, old, _POINT_COLUMNS)
    for tier in (MINUTE, HOUR):
        old = _move_aside(tier.table, [f"pk_{tier.table}", f"ix_{tier.table}_bucket_brin"])
        _rollup_table(tier.table)
        _fill(tier, old, _ROLLUP_COLUMNS)


def downgrade() -> None:
    # Back to plain tables. Two points that share a data_id but not a ts cannot both go back
    # under the old key: the earlier-stored one is kept.
    op.rename_table("points", "points_0002")
    for index in ("uq_points_series_ts_data_id", "ix_points_ts_brin"):
        op.execute(f'ALTER INDEX "{index}" RENAME TO "{index}_0002"')
    op.create_table(
        "points",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("data_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("metric_type", sa.String(length=128), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )
    op.create_index(
        "ix_points_series_ts", "points", ["tenant_id", "metric_type", "source", "ts"], unique=False
    )
    op.create_index("ix_points_ts_brin", "points", ["ts"], unique=False, postgresql_using="brin")
    op.create_index("uq_points_tenant_data_id", "points", ["tenant_id", "data_id"], unique=True)
    op.execute(
        f"INSERT INTO points ({_POINT_COLUMNS}) SELECT {_POINT_COLUMNS} FROM points_0002 "
        "ORDER BY received_at ON CONFLICT (tenant_id, data_id) DO NOTHING"
    )
    op.drop_table("points_0002")  # its partitions go with it
    for name in ("rollup_1m", "rollup_1h"):
        op.rename_table(name, f"{name}_0002")
        for index in (f"pk_{name}", f"ix_{name}_bucket_brin"):
            op.execute(f'ALTER INDEX "{index}" RENAME TO "{index}_0002"')
        op.create_table(
            name,
            sa.Column("tenant_id", sa.String(length=64), nullable=False),
            sa.Column("metric_type", sa.String(length=128), nullable=False),
            sa.Column("source", sa.String(length=128), nullable=False),
            sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
            sa.Column("count", sa.BigInteger(), nullable=False),
            sa.Column("sum", sa.Float(precision=53), nullable=False),
            sa.Column("min", sa.Float(precision=53), nullable=False),
            sa.Column("max", sa.Float(precision=53), nullable=False),
            sa.Column("last", sa.Float(precision=53), nullable=False),
            sa.Column("last_ts", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint(
                "tenant_id", "metric_type", "source", "bucket", name=f"pk_{name}"
            ),
        )
        op.create_index(
            f"ix_{name}_bucket_brin", name, ["bucket"], unique=False, postgresql_using="brin"
        )
        op.execute(
            f"INSERT INTO {name} ({_ROLLUP_COLUMNS}) SELECT {_ROLLUP_COLUMNS} FROM {name}_0002"
        )
        op.drop_table(f"{name}_0002")
