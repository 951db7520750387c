"""tenant preferences: the organisation's defaults for theme, time zone and time range

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 05:10:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.add_column(
        "tenants",
        sa.Column("preferences", JSON_DOC, server_default=sa.text("'{}'"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("tenants", "preferences")
