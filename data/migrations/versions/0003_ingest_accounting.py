"""ingest accounting: per-entry and per-minute books of what the writers stored

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 02:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_entries",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("entry_id", sa.String(length=41), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("stored", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column(
            "written_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("tenant_id", "entry_id", name=op.f("pk_ingest_entries")),
    )
    op.create_index(
        "ix_ingest_entries_accepted_at_brin",
        "ingest_entries",
        ["accepted_at"],
        unique=False,
        postgresql_using="brin",
    )
    op.create_table(
        "ingest_minutes",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("stored", sa.BigInteger(), nullable=False),
        sa.Column("duplicates", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "minute", name=op.f("pk_ingest_minutes")),
    )


def downgrade() -> None:
    op.drop_table("ingest_minutes")
    op.drop_index(
        "ix_ingest_entries_accepted_at_brin", table_name="ingest_entries", postgresql_using="brin"
    )
    op.drop_table("ingest_entries")
