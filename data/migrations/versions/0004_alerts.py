"""alerts: incident details, per-rule webhook secret, and the outbound delivery queue

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 06:00:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alert_rules", sa.Column("webhook_secret", sa.String(length=64), nullable=True))
    op.add_column("incidents", sa.Column("metric", sa.String(length=128), nullable=True))
    op.add_column(
        "incidents",
        sa.Column("cause", sa.String(length=16), server_default=sa.text("'value'"), nullable=False),
    )
    op.add_column("incidents", sa.Column("severity", sa.String(length=16), nullable=True))
    op.add_column("incidents", sa.Column("message", sa.Text(), nullable=True))
    op.add_column("incidents", sa.Column("resolved_value", sa.Float(precision=53), nullable=True))
    op.create_index(
        "uq_incidents_open",
        "incidents",
        ["rule_id", "cause", "metric", "source"],
        unique=True,
        postgresql_where=sa.text("state = 'firing'"),
    )
    op.create_table(
        "alert_deliveries",
        sa.Column("delivery_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("incident_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=2000), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'pending'"), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "channel IN ('webhook', 'email')", name=op.f("ck_alert_deliveries_channel")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.incident_id"],
            name=op.f("fk_alert_deliveries_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.tenant_id"],
            name=op.f("fk_alert_deliveries_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("delivery_id", name=op.f("pk_alert_deliveries")),
    )
    op.create_index(
        "uq_alert_deliveries_once",
        "alert_deliveries",
        ["incident_id", "state", "channel", "target"],
        unique=True,
    )
    op.create_index("ix_alert_deliveries_due", "alert_deliveries", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_alert_deliveries_due", table_name="alert_deliveries")
    op.drop_index("uq_alert_deliveries_once", table_name="alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_index("uq_incidents_open", table_name="incidents")
    for column in ("resolved_value", "message", "severity", "cause", "metric"):
        op.drop_column("incidents", column)
    op.drop_column("alert_rules", "webhook_secret")
