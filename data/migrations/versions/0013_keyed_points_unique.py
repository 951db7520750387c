"""points: the unique index covers only points whose client gave a data_id

Points sent without a data_id are stored with data_id '' (a client's is never empty) and no
unique index entry (a plain series index keeps reads of a series over time indexed): a
redelivered ingest entry is detected whole by its row in ingest_entries, in the transaction
that stores its points, so only a client's resend needs the per-point check
(bench/RESULTS.md "Issue 14 — write path").

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 09:40:00.000000
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_COLUMNS = "tenant_id, metric_type, source, ts, data_id"
_SERIES = "tenant_id, metric_type, source, ts"


def upgrade() -> None:
    # reads of a series keep a btree (the unique index served them until now)
    op.execute(f"CREATE INDEX IF NOT EXISTS ix_points_series_ts ON points ({_SERIES})")
    op.execute("DROP INDEX IF EXISTS uq_points_series_ts_data_id")
    op.execute(
        f"CREATE UNIQUE INDEX uq_points_series_ts_data_id ON points ({_COLUMNS}) "
        "WHERE data_id <> ''"
    )


def downgrade() -> None:
    # the full index needs every point to have an id of its own again
    op.execute("UPDATE points SET data_id = md5(random()::text) WHERE data_id = ''")
    op.execute("DROP INDEX IF EXISTS uq_points_series_ts_data_id")
    op.execute(f"CREATE UNIQUE INDEX uq_points_series_ts_data_id ON points ({_COLUMNS})")
    op.execute("DROP INDEX IF EXISTS ix_points_series_ts")
