"""Fixtures for /ws tests: a tenant's keys and credentials on the live server."""

from __future__ import annotations

import pytest
import requests

from app.services import Services
from data.stores.accounts import User
from tests.conftest import PASSWORD, LiveServer


@pytest.fixture
def read_key(services: Services, tenant: str) -> str:
    """A read-scoped API key of the test tenant."""
    return services.accounts.create_api_key(tenant, "gateway test read", "read")


@pytest.fixture
def token(live_server: LiveServer, read_key: str) -> str:
    """A /ws token of the test tenant, from GET /api/stream-token with a read key."""
    return stream_token(live_server, read_key)


def stream_token(server: LiveServer, read_key: str) -> str:
    """A /ws token from GET /api/stream-token, authenticated by a read key."""
    resp = requests.get(
        server.url + "/api/stream-token",
        headers={"Authorization": f"Bearer {read_key}"},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["token"])


def session_cookie(server: LiveServer, user: User) -> str:
    """The session cookie of `user` after a JSON POST /login, as a Cookie header value."""
    with requests.Session() as http:
        resp = http.post(
            server.url + "/login",
            json={"username": user.username, "password": PASSWORD},
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        return "; ".join(f"{name}={value}" for name, value in http.cookies.items())
