"""The rows of /api/users, /api/keys and /api/sources/{id}/test in the permission matrix
(CONTRACT.md §8; format as in matrix_api.py): tenant A's admin only; keys never
administer (403, whatever their scope); tenant B's admin finds none of A's ids (404)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from data.stores.schema_accounts import api_keys
from tests.conftest import PASSWORD
from tests.security.matrix_api import Builder, Probe, _get
from tests.security.matrix_world import A_MARK, World

A, R, X = 200, 201, 204


def _fresh_user(world: World) -> str:
    name = f"mx-target-{uuid.uuid4().hex[:8]}"
    email = f"{name}@a.example"
    return world.services.accounts.create_user(
        world.tenant_a, name, email, "viewer", PASSWORD
    ).user_id


def _fresh_key(world: World) -> str:
    secret = world.services.accounts.create_api_key(
        world.tenant_a, f"{A_MARK}-key-{uuid.uuid4().hex[:6]}", "read"
    )
    return secret.split("_", 2)[1]


def _key_row(world: World, **where: str) -> object:
    query = select(api_keys)
    for column, value in where.items():
        query = query.where(api_keys.c[column] == value)
    with world.services.engine.connect() as conn:
        return conn.execute(query).first()


def update_user(world: World, caller: str) -> Probe:
    user_id = _fresh_user(world)

    def after(allowed: bool) -> None:
        user = world.services.accounts.get_user(user_id)
        assert user is not None and (user.role == "analyst") == allowed

    return Probe(f"/api/users/{user_id}", {"role": "analyst"}, after)


def delete_user(world: World, caller: str) -> Probe:
    user_id = _fresh_user(world)

    def after(allowed: bool) -> None:
        assert (world.services.accounts.get_user(user_id) is None) == allowed

    return Probe(f"/api/users/{user_id}", None, after)


def create_key(world: World, caller: str) -> Probe:
    name = f"matrix-new-key-{uuid.uuid4().hex[:8]}"

    def after(allowed: bool) -> None:
        assert (_key_row(world, name=name) is not None) == allowed

    return Probe("/api/keys", {"name": name, "scope": "read"}, after)


def revoke_key(world: World, caller: str) -> Probe:
    key_id = _fresh_key(world)

    def after(allowed: bool) -> None:
        row = _key_row(world, key_id=key_id)
        assert row is not None and (row.revoked_at is not None) == allowed  # type: ignore[attr-defined]

    return Probe(f"/api/keys/{key_id}", None, after)


def test_source(world: World, caller: str) -> Probe:
    return Probe(f"/api/sources/{world.source_id}/test", {})


# (method, rule) → (status per caller, the request). Columns, as CALLERS:
#   anon  A-viewer  A-analyst  A-admin  A-ingest  A-read  B-admin  B-read
ADMIN: dict[tuple[str, str], tuple[tuple[int, ...], Builder]] = {
    ("GET", "/api/users"): ((401, 403, 403, A, 403, 403, A, 403), _get("/api/users")),
    ("PUT", "/api/users/<user_id>"): ((401, 403, 403, A, 403, 403, 404, 403), update_user),
    ("DELETE", "/api/users/<user_id>"): ((401, 403, 403, X, 403, 403, 404, 403), delete_user),
    ("GET", "/api/keys"): ((401, 403, 403, A, 403, 403, A, 403), _get("/api/keys")),
    ("POST", "/api/keys"): ((401, 403, 403, R, 403, 403, R, 403), create_key),
    ("DELETE", "/api/keys/<key_id>"): ((401, 403, 403, X, 403, 403, 404, 403), revoke_key),
    ("POST", "/api/sources/<source_id>/test"): (
        (401, 403, 403, A, 403, 403, 404, 403),
        test_source,
    ),
}
