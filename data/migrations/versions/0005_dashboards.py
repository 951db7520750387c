"""dashboards: documents with a save counter, personal views, each user's home

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 01:15:00.000000
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"],
        ["tenants.tenant_id"],
        name=op.f(f"fk_{table}_tenant_id_tenants"),
        ondelete="CASCADE",
    )


def _user_fk(table: str, ondelete: str) -> sa.ForeignKeyConstraint:
    column = "owner_id" if table == "dashboards" else "user_id"
    return sa.ForeignKeyConstraint(
        [column], ["users.user_id"], name=op.f(f"fk_{table}_{column}_users"), ondelete=ondelete
    )


def _dashboard_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["dashboard_id"],
        ["dashboards.dashboard_id"],
        name=op.f(f"fk_{table}_dashboard_id_dashboards"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "dashboards",
        sa.Column("dashboard_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("shared", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("doc", JSON_DOC, nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("tenant_home", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("updated_by", sa.String(length=36), nullable=True),
        _user_fk("dashboards", "SET NULL"),
        _tenant_fk("dashboards"),
        sa.PrimaryKeyConstraint("dashboard_id", name=op.f("pk_dashboards")),
    )
    op.create_index("ix_dashboards_tenant_owner", "dashboards", ["tenant_id", "owner_id"])
    op.create_index("ix_dashboards_tenant_shared", "dashboards", ["tenant_id", "shared"])
    op.create_index(
        "uq_dashboards_tenant_home",
        "dashboards",
        ["tenant_id"],
        unique=True,
        postgresql_where=sa.text("tenant_home"),
    )
    op.create_table(
        "dashboard_views",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("dashboard_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("view", JSON_DOC, nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        _dashboard_fk("dashboard_views"),
        _tenant_fk("dashboard_views"),
        _user_fk("dashboard_views", "CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "dashboard_id", name=op.f("pk_dashboard_views")),
    )
    op.create_table(
        "dashboard_homes",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("dashboard_id", sa.String(length=36), nullable=False),
        _dashboard_fk("dashboard_homes"),
        _tenant_fk("dashboard_homes"),
        _user_fk("dashboard_homes", "CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_dashboard_homes")),
    )


def downgrade() -> None:
    op.drop_table("dashboard_homes")
    op.drop_table("dashboard_views")
    op.drop_index("uq_dashboards_tenant_home", table_name="dashboards")
    op.drop_index("ix_dashboards_tenant_shared", table_name="dashboards")
    op.drop_index("ix_dashboards_tenant_owner", table_name="dashboards")
    op.drop_table("dashboards")
