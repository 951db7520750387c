"""The audit tab's callback (callbacks/admin_audit.py), called as Dash calls it: admins get
their tenant's events filtered, a page at a time with "Load more" appending the next page,
and an export link of the same filter; everyone else gets a refusal and no event."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dash import Patch

from app.services import Services
from callbacks.admin_audit import show
from components import ids
from components.admin_audit import HIDDEN, PAGE_SIZE
from data.stores.audit import record_audit
from tests.conftest import new_tenant


def seed(services: Services, tenant: str, actions: list[str]) -> None:
    for i, action in enumerate(actions):
        with services.engine.begin() as conn:
            record_audit(conn, tenant, None, action, f"target-{i}", {"n": i})


def text_of(component: Any) -> str:
    return json.dumps(component, default=lambda c: c.to_plotly_json())


def test_an_admin_pages_through_the_filtered_events(services, tenant, make_user) -> None:
    admin = make_user(tenant, "admin")
    seed(services, tenant, ["source.create"] * (PAGE_SIZE + 3) + ["alert.create"])
    listed, after, more_class, href, message = show(
        services, admin, ids.AUDIT_ACTION, None, "source.", "now-7d", 0, None
    )
    assert message is None and len(listed) == PAGE_SIZE and after is not None
    assert more_class != HIDDEN
    assert f"target-{PAGE_SIZE + 2}" in text_of(listed[0])  # newest first
    assert "alert.create" not in text_of(listed)
    assert parse_qs(urlsplit(href).query) == {"action": ["source."], "since": ["now-7d"]}
    appended, last, more_class, _, _ = show(
        services, admin, ids.AUDIT_MORE, None, "source.", "now-7d", 1, after
    )
    assert isinstance(appended, Patch) and last is None and more_class == HIDDEN
    added = appended.to_plotly_json()["operations"][0]["params"]["value"]
    assert len(added) == 3 and "target-0" in text_of(added[-1])


def test_nothing_matching_says_so(services, tenant, make_user) -> None:
    listed, after, more_class, _, _ = show(
        services, make_user(tenant, "admin"), None, "nobody-at-all", "", "now-24h", 0, None
    )
    assert "No events" in text_of(listed) and after is None and more_class == HIDDEN


def test_a_bad_filter_is_a_message_not_an_error(services, tenant, make_user) -> None:
    listed, _, _, _, message = show(
        services, make_user(tenant, "admin"), None, "x" * 65, "", "now-7d", 0, None
    )
    assert listed == [] and "actor" in text_of(message)


def test_viewers_and_analysts_are_refused(services, make_user) -> None:
    tenant = new_tenant(services)
    seed(services, tenant, ["source.create"])
    for role in ("viewer", "analyst"):
        listed, after, _, href, message = show(
            services, make_user(tenant, role), None, None, "", "all", 0, None
        )
        assert (listed, after, href) == ([], None, "")
        assert "Only admins" in text_of(message)
