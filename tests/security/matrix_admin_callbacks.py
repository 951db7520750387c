"""/admin's rows of the callback matrix (tests/security/matrix_callbacks.py): every
callback of the Users, API keys and Sources tabs posted at A's users, keys and sources by
anonymous (401), A viewer and A analyst (an admin's page: they change nothing) and B admin
(an admin, but of another tenant: A's ids are not found, nothing of A's is shown).
tests/security/test_admin_callbacks_act.py shows the same requests act for A's own admin."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from components import ids
from components.admin_sources import FIELDS, field_id
from data.stores.sources import SourceStore
from tests.conftest import PASSWORD
from tests.security.matrix_world import A_MARK, World

OK = "ok"
NOTHING = (401, OK, OK, OK)  # anonymous, A viewer, A analyst, B admin


def _probe(
    world: World, name: str, values: dict, trigger: tuple, changed: Callable[[], bool]
) -> Any:
    from tests.security.matrix_callbacks import CbProbe, payload  # it imports this module

    probe = CbProbe(payload(world, name, values, [trigger]))
    probe.changed = changed
    return probe


def fresh_user(world: World) -> Any:
    """A new viewer of tenant A, named with A's mark (so a leak of it to B is seen)."""
    name = f"{A_MARK}-u-{uuid.uuid4().hex[:6]}"
    return world.services.accounts.create_user(
        world.tenant_a, name, f"{name}@a.example", "viewer", PASSWORD
    )


def fresh_key(world: World) -> str:
    secret = world.services.accounts.create_api_key(
        world.tenant_a, f"{A_MARK}-key-{uuid.uuid4().hex[:6]}", "read"
    )
    return secret.split("_", 2)[1]


def _key_revoked(world: World, key_id: str) -> bool:
    return (
        world.row("SELECT revoked_at FROM api_keys WHERE key_id = :k", k=key_id).revoked_at
        is not None
    )


def disable_user(world: World) -> Any:
    user = fresh_user(world)
    trigger = ({"type": ids.ADMIN_USER_TOGGLE, "index": user.user_id}, "n_clicks")
    values = {
        (ids.ADMIN_USER_TOGGLE, "n_clicks"): [(user.user_id, 1)],
        (ids.ADMIN_USERS_RELOAD, "data"): 0,
    }
    changed = lambda: not world.services.accounts.get_user(user.user_id).active  # noqa: E731 (a probe's check)
    return _probe(world, "callbacks.admin_users.users_view", values, trigger, changed)


def change_role(world: World) -> Any:
    user = fresh_user(world)
    trigger = ({"type": ids.ADMIN_USER_ROLE, "index": user.user_id}, "value")
    values = {(ids.ADMIN_USER_ROLE, "value"): [(user.user_id, "admin")]}
    changed = lambda: world.services.accounts.get_user(user.user_id).role == "admin"  # noqa: E731 (a probe's check)
    return _probe(world, "callbacks.admin_users.users_view", values, trigger, changed)


def delete_user(world: World) -> Any:
    user = fresh_user(world)
    trigger = (ids.ADMIN_USER_CONFIRM_YES, "n_clicks")
    values = {trigger: 1, (ids.ADMIN_USER_TARGET, "data"): user.user_id}
    changed = lambda: world.services.accounts.get_user(user.user_id) is None  # noqa: E731 (a probe's check)
    return _probe(world, "callbacks.admin_users.users_view", values, trigger, changed)


def ask_delete(world: World) -> Any:
    user = fresh_user(world)
    trigger = ({"type": ids.ADMIN_USER_DELETE, "index": user.user_id}, "n_clicks")
    values = {(ids.ADMIN_USER_DELETE, "n_clicks"): [(user.user_id, 1)]}
    return _probe(world, "callbacks.admin_users.ask_delete", values, trigger, lambda: False)


def create_key(world: World) -> Any:
    name = f"matrix-cb-key-{uuid.uuid4().hex[:6]}"
    trigger = (ids.ADMIN_KEY_CREATE, "n_clicks")
    values = {
        trigger: 1,
        (ids.ADMIN_KEY_NAME, "value"): name,
        (ids.ADMIN_KEY_SCOPE, "value"): "read",
        (ids.ADMIN_KEY_EXPIRY, "value"): "90",
    }
    query = "SELECT 1 FROM api_keys WHERE name = :n AND tenant_id = :t"
    changed = lambda: world.row(query, n=name, t=world.tenant_a) is not None  # noqa: E731 (a probe's check)
    return _probe(world, "callbacks.admin_keys.keys_view", values, trigger, changed)


def revoke_key(world: World) -> Any:
    key_id = fresh_key(world)
    trigger = (ids.ADMIN_KEY_CONFIRM_YES, "n_clicks")
    values = {trigger: 1, (ids.ADMIN_KEY_TARGET, "data"): key_id}
    return _probe(
        world,
        "callbacks.admin_keys.keys_view",
        values,
        trigger,
        lambda: _key_revoked(world, key_id),
    )


def ask_revoke(world: World) -> Any:
    key_id = fresh_key(world)
    trigger = ({"type": ids.ADMIN_KEY_REVOKE, "index": key_id}, "n_clicks")
    values = {(ids.ADMIN_KEY_REVOKE, "n_clicks"): [(key_id, 1)]}
    return _probe(world, "callbacks.admin_keys.ask_revoke", values, trigger, lambda: False)


def _source_enabled(world: World, source_id: str) -> bool:
    source = SourceStore(world.services.engine).get(world.tenant_a, source_id)
    assert source is not None
    return source.enabled


def toggle_source(world: World) -> Any:
    source_id = world.fresh_source()  # disabled
    trigger = ({"type": ids.ADMIN_SOURCE_TOGGLE, "index": source_id}, "n_clicks")
    values = {
        (ids.ADMIN_SOURCE_TOGGLE, "n_clicks"): [(source_id, 1)],
        (ids.ADMIN_SOURCES_RELOAD, "data"): 0,
    }
    changed = lambda: _source_enabled(world, source_id)  # noqa: E731 (a probe's check)
    return _probe(world, "callbacks.admin_sources.sources_view", values, trigger, changed)


def edit_source(world: World) -> Any:
    source_id = world.fresh_source()
    trigger = ({"type": ids.ADMIN_SOURCE_EDIT, "index": source_id}, "n_clicks")
    values = {(ids.ADMIN_SOURCE_EDIT, "n_clicks"): [(source_id, 1)]}
    return _probe(world, "callbacks.admin_sources.open_form", values, trigger, lambda: False)


def save_source(world: World) -> Any:
    source_id = world.fresh_source()
    renamed = f"matrix-renamed-{uuid.uuid4().hex[:6]}"
    trigger = (ids.ADMIN_SOURCE_SAVE, "n_clicks")
    form = dict(zip(FIELDS, (renamed, "demo", "{}", 10, None, False), strict=True))
    values = {
        trigger: 1,
        (ids.ADMIN_SOURCES_RELOAD, "data"): 0,
        (ids.ADMIN_SOURCE_EDITING, "data"): source_id,
        **{(field_id(f), "value"): v for f, v in form.items()},
    }
    query = "SELECT 1 FROM sources WHERE source_id = :s AND name = :n"
    changed = lambda: world.row(query, s=source_id, n=renamed) is not None  # noqa: E731 (a probe's check)
    return _probe(world, "callbacks.admin_sources.save_source", values, trigger, changed)


def route_admin(world: World) -> Any:
    from tests.security.matrix_callbacks import CbProbe, payload

    values = {("url", "pathname"): "/admin", ("url", "search"): ""}
    probe = CbProbe(payload(world, "callbacks.shell.route", values, [("url", "pathname")]))

    def check(caller: str, answer: dict[str, Any]) -> None:
        shown = str(answer)
        if caller == "B admin":
            assert ids.ADMIN_USERS_LIST in shown, "an admin gets the admin page"
        else:
            assert ids.ADMIN_USERS_LIST not in shown and "Page not found" in shown

    probe.check = check
    return probe


ROWS: dict[str, list[tuple[str, tuple[Any, ...], Callable[[World], Any]]]] = {
    "callbacks.admin_users.users_view": [
        ("disable A's user", NOTHING, disable_user),
        ("make A's user an admin", NOTHING, change_role),
        ("delete A's user", NOTHING, delete_user),
    ],
    "callbacks.admin_users.ask_delete": [("ask to delete A's user", NOTHING, ask_delete)],
    "callbacks.admin_keys.keys_view": [
        ("create a key", NOTHING, create_key),
        ("revoke A's key", NOTHING, revoke_key),
    ],
    "callbacks.admin_keys.ask_revoke": [("ask to revoke A's key", NOTHING, ask_revoke)],
    "callbacks.admin_sources.sources_view": [("enable A's source", NOTHING, toggle_source)],
    "callbacks.admin_sources.open_form": [("open A's source to edit", NOTHING, edit_source)],
    "callbacks.admin_sources.save_source": [("rename A's source", NOTHING, save_source)],
}
ROUTE_ROWS = [("render /admin", NOTHING, route_admin)]
CLIENTSIDE = ("clientside pulseAdmin.testSource",)
