"""sqlmap, bounded, against the real app on loopback: the sign-in form (form and JSON) and
the query parameters of /api/data, /api/export and /api/updates find no injectable
parameter. The full scan, with its figures, is bench/sqlmap_scan.py."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from app.services import Services
from app.settings import Settings
from data.domain.points import Point
from tests.conftest import PASSWORD, new_tenant, serving
from tests.security.sqlmap_runner import SQLMAP, Target, scan, targets

# CI's bound: level 2, risk 1, every technique (all five targets take about 40 s on two
# shared cores), each target cut off after TIMEOUT_S. The bench scans at level 3, risk 2.
LEVEL, RISK, TECHNIQUE, TIMEOUT_S = 2, 1, "BEUSTQ", 150


@dataclass
class ScanServer:
    url: str
    read_key: str
    username: str


@pytest.fixture(scope="module")
def scan_server(settings: Settings, services: Services) -> Iterator[ScanServer]:
    """Pulse on a free port whose sign-in throttle never answers sqlmap's thousands of
    attempts with a 429 (a throttled form would hide an injection, not be free of one).
    Not the session's live_server: that one shares the run's throttle and key prefix with
    every other test, which sqlmap's failed sign-ins from 127.0.0.1 would lock out."""
    from app.asgi import build_asgi

    # Its own key prefix (under the run's, so removed with it): sqlmap's thousands of failed
    # sign-ins from 127.0.0.1 must not throttle the other tests' sign-ins from that address.
    relaxed = settings.model_copy(
        update={
            "login_max_failures": 10**9,
            "login_max_failures_per_ip": 10**9,
            "redis_prefix": f"{settings.redis_prefix}sqlmap:",
        }
    )
    # `services` is asked for only to have the run's database migrated
    svc = Services.build(relaxed, pool_size=5, statement_timeout_ms=5_000)
    tenant = new_tenant(svc)
    user = svc.accounts.create_user(tenant, f"scan-{tenant}", "s@example.com", "analyst", PASSWORD)
    now_ms = svc.now_ms()
    minutes = [now_ms - i * 60_000 for i in range(60)]
    svc.history.write_points(
        [(tenant, Point(uuid.uuid4().hex, "web-1", "cpu.usage", ts, 1.0)) for ts in minutes]
    )
    read_key = svc.accounts.create_api_key(tenant, "sqlmap", "read")
    with serving(build_asgi(svc, stream=False), log_level="critical") as (url, _):
        yield ScanServer(url, read_key, user.username)
    svc.close()


def test_sqlmap_is_installed() -> None:
    assert os.access(SQLMAP, os.X_OK), "sqlmap is needed: apt-get install sqlmap"


@pytest.mark.parametrize(
    "name", ["login form", "login json", "/api/data", "/api/export", "/api/updates"]
)
def test_sqlmap_finds_no_injectable_parameter(scan_server: ScanServer, name: str) -> None:
    (target,) = [t for t in _targets(scan_server) if t.name == name]
    result = scan(target, LEVEL, RISK, TECHNIQUE, TIMEOUT_S)
    print(
        f"sqlmap {name}: {len(result.parameters)} parameters, {result.requests} requests,"
        f" {len(result.injectable)} injectable"
    )
    assert result.injectable == set(), result.output[-3000:]
    assert result.finished, "sqlmap did not finish in time:\n" + result.output[-3000:]
    assert result.parameters >= set(target.params.split(",")), result.output[-3000:]
    assert result.requests > 0
    assert "all tested parameters do not appear to be injectable" in result.output


def _targets(server: ScanServer) -> list[Target]:
    return targets(server.url, server.read_key, server.username, PASSWORD)
