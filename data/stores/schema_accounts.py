"""The accounts' side tables, API keys and the audit log, on the schema's metadata; a module of
its own because data/stores/schema.py is at the size limit."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    String,
    Table,
    func,
    text,
)

from data.stores.schema import JSONDoc, created_at, metadata, tenant_fk

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    tenant_fk(),
    Column("name", String(100), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("created_by", String(36), ForeignKey("users.user_id", ondelete="SET NULL")),
    created_at(),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True)),  # None: the key never expires
    CheckConstraint("scope IN ('ingest', 'read', 'embed')", name="scope"),
    Index("ix_api_keys_tenant", "tenant_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("audit_id", BigInteger, primary_key=True, autoincrement=True),
    tenant_fk(),
    Column("user_id", String(36)),
    Column("action", String(64), nullable=False),
    Column("target", String(200)),
    Column("details", JSONDoc, nullable=False, server_default=text("'{}'")),
    Column("address", String(64)),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The tamper-evident chain (data/domain/audit_chain.py): sha256 of the row's fields and
    # of the tenant's previous row's hash (None for its first).
    Column("prev_hash", String(64)),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_log_tenant_at", "tenant_id", "at"),
    # a tenant's newest row (the chain's end) and its pages, newest first
    Index("ix_audit_log_tenant_chain", "tenant_id", "audit_id"),
)
