"""embed tokens: one row per minted token (no secret), revocable one by one; key scope embed

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 01:50:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "embed_tokens",
        sa.Column("jti", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("resource", JSON_DOC, nullable=False),
        sa.Column("filters", JSON_DOC, server_default=sa.text("'{}'"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_by_key", sa.String(length=36), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.tenant_id"],
            name=op.f("fk_embed_tokens_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_embed_tokens")),
    )
    op.create_index("ix_embed_tokens_tenant_expires", "embed_tokens", ["tenant_id", "expires_at"])
    # API keys of scope embed mint tokens for a server (CONTRACT.md §2)
    op.drop_constraint(op.f("ck_api_keys_scope"), "api_keys", type_="check")
    op.create_check_constraint(
        op.f("ck_api_keys_scope"), "api_keys", "scope IN ('ingest', 'read', 'embed')"
    )


def downgrade() -> None:
    op.execute("DELETE FROM api_keys WHERE scope = 'embed'")
    op.drop_constraint(op.f("ck_api_keys_scope"), "api_keys", type_="check")
    op.create_check_constraint(op.f("ck_api_keys_scope"), "api_keys", "scope IN ('ingest', 'read')")
    op.drop_index("ix_embed_tokens_tenant_expires", table_name="embed_tokens")
    op.drop_table("embed_tokens")
