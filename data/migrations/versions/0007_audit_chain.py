"""audit chain: each audit_log row carries a hash chained to its tenant's previous row

Existing rows are hashed in the order they were written (per tenant, by audit_id), with the
same encoding the writer uses (data/domain/audit_chain.py: its version tag is part of every
hash, so a later encoding would come with its own tag, never by editing this one).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 05:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

from data.domain.audit_chain import ChainedFields, row_hash

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ROWS = sa.text(
    "SELECT audit_id, tenant_id, user_id, action, target, address, details, at "
    "FROM audit_log ORDER BY tenant_id, audit_id"
)
_SET = sa.text("UPDATE audit_log SET prev_hash = :prev_hash, hash = :hash WHERE audit_id = :id")


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("prev_hash", sa.String(length=64), nullable=True))
    op.add_column("audit_log", sa.Column("hash", sa.String(length=64), nullable=True))
    _backfill(op.get_bind())
    op.alter_column("audit_log", "hash", existing_type=sa.String(length=64), nullable=False)
    op.create_index("ix_audit_log_tenant_chain", "audit_log", ["tenant_id", "audit_id"])


def _backfill(conn: sa.Connection) -> None:
    tenant, prev = None, None
    updates = []
    for row in conn.execute(_ROWS):
        if row.tenant_id != tenant:
            tenant, prev = row.tenant_id, None
        fields = ChainedFields(
            row.tenant_id, row.user_id, row.action, row.target, row.address, row.details, row.at
        )
        digest = row_hash(fields, prev)
        updates.append({"id": row.audit_id, "prev_hash": prev, "hash": digest})
        prev = digest
    if updates:
        conn.execute(_SET, updates)


def downgrade() -> None:
    op.drop_index("ix_audit_log_tenant_chain", table_name="audit_log")
    op.drop_column("audit_log", "hash")
    op.drop_column("audit_log", "prev_hash")
