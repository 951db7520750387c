"""The embed tokens' table (CONTRACT.md §7), on the schema's metadata; a module of its own
because data/stores/schema.py is at the size limit. The token itself is never stored: its
signature is proof enough, and a row lists it, says who made it and whether it was revoked."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Index, String, Table, func, text

from data.stores.schema import JSONDoc, metadata

embed_tokens = Table(
    "embed_tokens",
    metadata,
    Column("jti", String(32), primary_key=True),
    Column(
        "tenant_id", String(64), ForeignKey("tenants.tenant_id", ondelete="CASCADE"), nullable=False
    ),
    Column("resource", JSONDoc, nullable=False),
    Column("filters", JSONDoc, nullable=False, server_default=text("'{}'")),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    # the user who minted it (None: an API key of scope embed, named in created_by_key)
    Column("created_by", String(36)),
    Column("created_by_key", String(36)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_embed_tokens_tenant_expires", "tenant_id", "expires_at"),
)
