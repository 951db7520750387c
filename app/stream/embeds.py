"""/ws for `/embed/<token>` pages: the embed token as a grant limited to its resource.

An embed's socket is opened with `?token=<embed token>` and receives the series of its
resource's live widgets within the token's locked sources, whatever it subscribes to (the
client's filter checks the grant for every point); a subscription naming anything else is
refused outright. A revoked token's sockets close within about a second: the gateway looks
up their jtis in Redis every second (one MGET for all of them), and in PostgreSQL with
the other grants' slower re-check, in case Redis lost a mark.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from redis.asyncio import Redis as AsyncRedis

from app.services import Services
from app.tokens import StreamGrant
from data.domain.embeds import EmbedSigner, EmbedTokenError, embed_scopes, source_allowed
from data.domain.errors import NotFound
from data.stores.embed_tokens import EmbedTokens, revoked_key

REVOKED_REASON = "embed token revoked"
EXPIRED_REASON = "embed token expired"


def embed_store(services: Services) -> EmbedTokens:
    """The embed tokens, on the gateway's synchronous connections (used from threads)."""
    settings = services.settings
    signer = EmbedSigner(settings.require_secret())
    return EmbedTokens(
        services.engine, services.redis, settings.redis_prefix, signer, services.clock
    )


def embed_grant_now(store: EmbedTokens, token: str) -> StreamGrant | None:
    """The grant of a live embed token: its resource's live widgets' series, within its
    locked sources; None for anything else (forged, expired, revoked, resource gone)."""
    try:
        claims = store.verify(token)
        spec = store.dashboard_spec(claims.tenant_id, claims.resource.dashboard_id)
        scopes = embed_scopes(spec, claims.resource, claims.sources)
    except (EmbedTokenError, NotFound):
        return None
    live = tuple(s for w, s in scopes if w.live and w.type != "notifications")
    return StreamGrant(
        claims.tenant_id,
        None,
        None,
        float(claims.expires_at),
        None,
        embed_jti=claims.jti,
        embed_scopes=live,
    )


async def embed_grant(store: EmbedTokens, token: str) -> StreamGrant | None:
    """`embed_grant_now` off the event loop (it reads PostgreSQL)."""
    return await asyncio.to_thread(embed_grant_now, store, token)


def subscription_allowed(
    grant: StreamGrant, metrics: Iterable[str], sources: Iterable[str]
) -> bool:
    """Whether an embed's socket asks only for what its resource shows: every metric one of
    its widgets' patterns (or a name they match), every source `*` or one it may see."""
    scopes = grant.embed_scopes
    for metric in metrics:
        if not any(metric in s.metrics or s.metric_set.matches(metric) for s in scopes):
            return False
    for source in sources:
        if source != "*" and not any(source_allowed(s, source) for s in scopes):
            return False
    return True


async def revoked_jtis(redis: AsyncRedis, prefix: str, jtis: Iterable[str]) -> set[str]:
    """Which of these embed tokens Redis marks revoked, in one round trip."""
    wanted = list(dict.fromkeys(jtis))
    if not wanted:
        return set()
    marks = await redis.mget([revoked_key(prefix, j) for j in wanted])
    return {jti for jti, mark in zip(wanted, marks, strict=True) if mark is not None}
