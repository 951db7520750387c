"""Embed tokens' records (CONTRACT.md §7): minted, listed and revoked per tenant in
PostgreSQL, with every revocation also written to Redis, where the /ws gateway checks the
embeds it serves every second without a query.

PostgreSQL is the truth: a revoked row stays revoked if Redis loses its key, since every
page load and data request of an embed (and the gateway's slower re-check) reads the row.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from sqlalchemy import Engine, insert, select, update

from data.domain.dashboard_documents import load_stored
from data.domain.dashboards import DashboardSpec
from data.domain.embeds import (
    EmbedClaims,
    EmbedResource,
    EmbedSigner,
    EmbedTokenError,
    new_claims,
    resource_widgets,
)
from data.domain.errors import NotFound
from data.domain.timefmt import iso_datetime
from data.stores.audit import record_audit
from data.stores.dashboard_rows import fetch_row
from data.stores.schema_embeds import embed_tokens

_E = embed_tokens.c
REVOKED_GRACE_S = 60  # a revocation key outlives its token by this, against clock skew


@dataclass(frozen=True, slots=True)
class Minted:
    """A new token and what `POST /api/embed-tokens` answers about it."""

    token: str
    claims: EmbedClaims

    def as_dict(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "jti": self.claims.jti,
            "expires_at": iso_datetime(datetime.fromtimestamp(self.claims.expires_at, UTC)),
            "url": f"/embed/{self.token}",
        }


def revoked_key(prefix: str, jti: str) -> str:
    """The Redis key that marks a token revoked."""
    return f"{prefix}embed-revoked:{jti}"


class EmbedTokens:
    """Mints, lists, revokes and checks embed tokens of every tenant, each call in one."""

    def __init__(
        self,
        engine: Engine,
        redis: Redis,
        prefix: str,
        signer: EmbedSigner,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.redis = redis
        self.prefix = prefix
        self.signer = signer
        self.clock = clock

    def dashboard_spec(self, tenant_id: str, dashboard_id: str) -> DashboardSpec:
        """The tenant's dashboard document, whoever owns it; NotFound when there is none."""
        with self.engine.connect() as conn:
            row = fetch_row(conn, tenant_id, dashboard_id)
        if row is None:
            raise NotFound("dashboard")
        return load_stored(dict(row.doc), row.schema_version, row.shared)

    def issue(
        self,
        spec: DashboardSpec,
        tenant_id: str,
        resource: EmbedResource,
        sources: tuple[str, ...],
        ttl_s: int,
        by: tuple[str | None, str | None],
    ) -> Minted:
        """Mint a token for `resource` of the dashboard `spec` (as its caller may see it):
        NotFound when the widget it names is not on it. `by` is (user_id, key_id)."""
        resource_widgets(spec, resource)
        claims = new_claims(tenant_id, resource, sources, ttl_s, self.clock())
        return self.mint(claims, *by)

    def mint(self, claims: EmbedClaims, user_id: str | None, key_id: str | None) -> Minted:
        """Record the token of `claims` (its resource checked by the caller) and sign it."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(embed_tokens).values(
                    jti=claims.jti,
                    tenant_id=claims.tenant_id,
                    resource=claims.resource.as_dict(),
                    filters={"source": list(claims.sources)},
                    expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
                    created_by=user_id,
                    created_by_key=key_id,
                    created_at=datetime.fromtimestamp(self.clock(), UTC),
                )
            )
            details = {"resource": claims.resource.as_dict(), "key_id": key_id}
            record_audit(conn, claims.tenant_id, user_id, "embed_token.create", claims.jti, details)
        return Minted(self.signer.sign(claims), claims)

    def live(self, tenant_id: str) -> list[dict[str, Any]]:
        """The tenant's unexpired, unrevoked tokens, newest first, without their secrets."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        query = (
            select(embed_tokens)
            .where(_E.tenant_id == tenant_id, _E.revoked_at.is_(None), _E.expires_at > now)
            .order_by(_E.created_at.desc(), _E.jti)
        )
        with self.engine.connect() as conn:
            return [
                {
                    "jti": r.jti,
                    "resource": r.resource,
                    "filters": r.filters,
                    "expires_at": iso_datetime(r.expires_at),
                    "created_at": iso_datetime(r.created_at),
                    "created_by": r.created_by,
                }
                for r in conn.execute(query)
            ]

    def revoke(self, tenant_id: str, jti: str, user_id: str | None) -> None:
        """Revoke one of the tenant's tokens; NotFound for another tenant's or none."""
        now = self.clock()
        with self.engine.begin() as conn:
            row = conn.execute(
                update(embed_tokens)
                .where(_E.tenant_id == tenant_id, _E.jti == jti[:64])
                .values(revoked_at=datetime.fromtimestamp(now, UTC))
                .returning(_E.expires_at)
            ).first()
            if row is None:
                raise NotFound("embed token")
            record_audit(conn, tenant_id, user_id, "embed_token.revoke", jti, {})
        remaining = int(row.expires_at.timestamp() - now) + REVOKED_GRACE_S
        self.redis.set(revoked_key(self.prefix, jti), b"1", ex=max(remaining, REVOKED_GRACE_S))

    def verify(self, token: str) -> EmbedClaims:
        """The claims of a token that is genuine, unexpired and unrevoked (its row read from
        PostgreSQL); EmbedTokenError saying which it is not."""
        claims = self.signer.read(token, self.clock())
        with self.engine.connect() as conn:
            row = conn.execute(
                select(_E.revoked_at).where(_E.jti == claims.jti, _E.tenant_id == claims.tenant_id)
            ).first()
        if row is None:
            raise EmbedTokenError("invalid")  # signed, yet never recorded: refuse it
        if row.revoked_at is not None:
            raise EmbedTokenError("revoked")
        return claims

    def is_live(self, jti: str, tenant_id: str) -> bool:
        """Whether the token's row is there and unrevoked."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(_E.revoked_at).where(_E.jti == jti, _E.tenant_id == tenant_id)
            ).first()
        return row is not None and row.revoked_at is None
