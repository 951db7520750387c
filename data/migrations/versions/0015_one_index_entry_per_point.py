"""points: the series index covers only points without a data_id

A point a client (or an agent format) gave a data_id already has an entry in the unique
index (tenant_id, metric_type, source, ts, data_id), whose leading columns are the series
index's: a second entry in the series index only cost the write. Each point now has one btree
entry: the series index for points without a data_id, the unique index for the others.
Reads of a series over time read both (data/stores/schema.py RAW_POINTS).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 17:00:00.000000
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_SERIES = "tenant_id, metric_type, source, ts"


def upgrade() -> None:
    # one transaction: no read runs without an index in between
    op.execute("DROP INDEX IF EXISTS ix_points_series_ts")
    op.execute(f"CREATE INDEX ix_points_series_ts ON points ({_SERIES}) WHERE data_id = ''")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_points_series_ts")
    op.execute(f"CREATE INDEX ix_points_series_ts ON points ({_SERIES})")
