"""Permission matrix rows of /api/me and /api/tenant/preferences (see matrix_api.py for the
columns): every signed-in person reaches their own profile, no key does, and a home
dashboard of tenant A named by tenant B's admin is a 404."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from data.stores.accounts import PASSWORDS
from data.stores.profiles import Profiles
from data.stores.schema import users
from tests.conftest import PASSWORD
from tests.security.matrix_api import A, Probe, X, _get
from tests.security.matrix_dashboards import shared_dashboard
from tests.security.matrix_world import World


def save_preferences(world: World, caller: str) -> Probe:
    dashboard_id, _ = shared_dashboard(world)
    return Probe("/api/me/preferences", {"theme": "light", "home_dashboard": dashboard_id})


def change_password(world: World, caller: str) -> Probe:
    user = world.users.get(caller)
    new = f"{PASSWORD}-changed"

    def after(allowed: bool) -> None:
        if not allowed:
            return
        assert world.services.accounts.authenticate(user.username, new) is not None
        with world.services.engine.begin() as conn:  # back, for the cells that follow
            conn.execute(
                update(users)
                .where(users.c.user_id == user.user_id)
                .values(password_hash=PASSWORDS.hash(PASSWORD))
            )

    return Probe("/api/me/password", {"current": PASSWORD, "new": new}, after)


def change_email(world: World, caller: str) -> Probe:
    return Probe("/api/me", {"email": f"{caller.replace(' ', '-')}@example.org"})


def save_tenant_preferences(world: World, caller: str) -> Probe:
    profiles = Profiles(world.services.engine)
    profiles.save_tenant_preferences(world.tenant_a, None, {"timezone": None})

    def after(allowed: bool) -> None:
        stored = profiles.tenant_preferences(world.tenant_a)
        if caller.startswith("A "):
            assert (stored.get("timezone") == "Europe/Oslo") == allowed

    return Probe("/api/tenant/preferences", {"timezone": "Europe/Oslo"}, after)


ME: dict[tuple[str, str], tuple[tuple[int, ...], Any]] = {
    ("GET", "/api/me"): ((401, A, A, A, 403, 403, A, 403), _get("/api/me")),
    ("PUT", "/api/me"): ((401, A, A, A, 403, 403, A, 403), change_email),
    ("PUT", "/api/me/preferences"): ((401, A, A, A, 403, 403, 404, 403), save_preferences),
    ("POST", "/api/me/password"): ((401, X, X, X, 403, 403, X, 403), change_password),
    ("GET", "/api/tenant/preferences"): (
        (401, A, A, A, 403, 403, A, 403),
        _get("/api/tenant/preferences"),
    ),
    ("PUT", "/api/tenant/preferences"): (
        (401, 403, 403, A, 403, 403, A, 403),
        save_tenant_preferences,
    ),
}
