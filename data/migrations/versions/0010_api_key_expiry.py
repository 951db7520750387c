"""API keys may expire: expires_at (null: never); an expired key is refused like a revoked one

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 05:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("api_keys", "expires_at")
