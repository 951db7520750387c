"""Invitations, password resets and e-mail verifications (CONTRACT.md §8), on the
schema's metadata; a module of its own because data/stores/schema.py is at the size
limit. No table stores a token:
only its SHA-256, as for API keys, so a copy of the database opens no account."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Index, String, Table, func

from data.stores.schema import metadata

invites = Table(
    "invites",
    metadata,
    Column("invite_id", String(36), primary_key=True),
    Column(
        "tenant_id", String(64), ForeignKey("tenants.tenant_id", ondelete="CASCADE"), nullable=False
    ),
    Column("email", String(254), nullable=False),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(36)),  # the inviting admin (None: an operator)
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("accepted_at", DateTime(timezone=True)),
    Column("accepted_by", String(36)),  # the user the invitation created
    Column("revoked_at", DateTime(timezone=True)),
    Index("uq_invites_token_hash", "token_hash", unique=True),
    Index("ix_invites_tenant", "tenant_id"),
)

password_resets = Table(
    "password_resets",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False),
    # SHA-256 of the password hash the link was issued against: once the password changes,
    # by this link or any other way, the fingerprint no longer matches and the link is dead
    Column("password_fingerprint", String(64), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_password_resets_user", "user_id"),
)

email_verifications = Table(
    "email_verifications",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False),
    # the address the link went to: a link proves that address only, not one set since
    Column("email", String(254), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_email_verifications_user", "user_id"),
)
