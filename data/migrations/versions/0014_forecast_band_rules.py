"""alert rules of kind forecast_band: the kind check admits them

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 09:50:00.000000
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

KINDS = "'threshold', 'rate', 'spike', 'nodata'"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_alert_rules_kind"), "alert_rules", type_="check")
    op.create_check_constraint(
        op.f("ck_alert_rules_kind"), "alert_rules", f"kind IN ({KINDS}, 'forecast_band')"
    )


def downgrade() -> None:
    op.execute("DELETE FROM alert_rules WHERE kind = 'forecast_band'")
    op.drop_constraint(op.f("ck_alert_rules_kind"), "alert_rules", type_="check")
    op.create_check_constraint(op.f("ck_alert_rules_kind"), "alert_rules", f"kind IN ({KINDS})")
