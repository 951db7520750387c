"""Server-side record of live sign-in sessions, so that signing out really ends one.

Flask sessions are signed cookies: without a record, a copy of a cookie taken before
sign-out would stay valid. Each sign-in gets a random session id kept in a Redis set per
user; sign-out removes it, and a cookie whose id is not in the set is refused."""

from __future__ import annotations

import secrets
from typing import Any

SESSION_TTL_S = 30 * 86_400


def session_key(prefix: str, user_id: str) -> str:
    """The Redis set holding a user's live session ids."""
    return f"{prefix}sessions:{user_id}"


class SessionRegistry:
    """Starts, checks and ends sign-in sessions."""

    def __init__(self, redis: Any, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def start(self, user_id: str) -> str:
        """Record a new session of the user and return its id."""
        sid = secrets.token_urlsafe(16)
        key = session_key(self.prefix, user_id)
        with self.redis.pipeline() as pipe:
            pipe.sadd(key, sid)
            pipe.expire(key, SESSION_TTL_S)
            pipe.execute()
        return sid

    def is_live(self, user_id: str, sid: str | None) -> bool:
        """Whether this session of the user has not been ended."""
        return bool(sid) and bool(self.redis.sismember(session_key(self.prefix, user_id), sid))

    def end(self, user_id: str, sid: str | None) -> None:
        """End one session of the user."""
        if sid:
            self.redis.srem(session_key(self.prefix, user_id), sid)

    def end_all(self, user_id: str) -> None:
        """End every session of the user (a password change, a disabled account)."""
        self.redis.delete(session_key(self.prefix, user_id))
