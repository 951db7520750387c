"""tenant homes: each tenant's default home dashboard (generated, or chosen by an admin)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 05:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant_homes",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("dashboard_id", sa.String(length=36), nullable=False),
        sa.Column("set_by", sa.String(length=36), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.tenant_id"],
            name=op.f("fk_tenant_homes_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dashboard_id"],
            ["dashboards.dashboard_id"],
            name=op.f("fk_tenant_homes_dashboard_id_dashboards"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_homes")),
    )
    # the generated homes made before this table are each tenant's default home
    op.execute(
        "INSERT INTO tenant_homes (tenant_id, dashboard_id) "
        "SELECT tenant_id, dashboard_id FROM dashboards WHERE tenant_home"
    )


def downgrade() -> None:
    op.drop_table("tenant_homes")
