"""Outbound HTTP for tenants (sources, webhooks): the policy of data/outbound.py enforced
where the socket is opened.

`outbound_session(policy)` is a `requests` session whose connections resolve the host
themselves, check every address it resolves to, and connect to a checked address: the
answer that was judged is the one used, so DNS rebinding (a public address at save time,
127.0.0.1 at poll time) gets nowhere. The URL's host stays the Host header and the TLS
server name. The session follows no redirects and ignores proxy variables and .netrc (a
tenant's URL must not borrow the worker's environment).
"""

from __future__ import annotations

import socket
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from app.settings import Settings
from data.outbound import OutboundPolicy, OutboundRefused

__all__ = ["OutboundRefused", "connect", "outbound_policy", "outbound_session"]


def outbound_policy(settings: Settings) -> OutboundPolicy:
    """The policy of these settings: OUTBOUND_ALLOW, SQL_SOURCES_ENABLED and Pulse's own
    PostgreSQL and Redis (which stay refused whatever is allowed)."""
    return OutboundPolicy.build(
        settings.outbound_allow,
        (settings.database_url, settings.redis_url),
        settings.sql_sources_enabled,
    )


def connect(
    policy: OutboundPolicy,
    host: str,
    port: int,
    timeout: float | None,
    socket_options: list[tuple[int, int, int]] | None = None,
) -> socket.socket:
    """A TCP socket to a checked address of `host` (OutboundRefused when any is refused)."""
    addresses = policy.check_host(host, port)
    last_error: OSError = OSError(f"{host} has no address")
    for ip in addresses:
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            for option in socket_options or []:
                sock.setsockopt(*option)
            sock.settimeout(timeout)
            sock.connect((str(ip), port))
            return sock
        except OSError as exc:
            sock.close()
            last_error = exc
    raise last_error


def _new_guarded_conn(conn: Any, policy: OutboundPolicy) -> socket.socket:
    """urllib3's _new_conn, through `connect` (its errors mapped as urllib3 maps them)."""
    # urllib3 passes socket's "default timeout" sentinel when none was set: not a number.
    timeout = conn.timeout if isinstance(conn.timeout, int | float) else None
    try:
        return connect(policy, conn._dns_host, conn.port, timeout, conn.socket_options)
    except TimeoutError:
        raise ConnectTimeoutError(conn, f"connection to {conn.host} timed out") from None
    except OSError as exc:
        raise NewConnectionError(conn, f"failed to establish a connection: {exc}") from None


def _pool_classes(policy: OutboundPolicy) -> dict[str, type]:
    """Connection pools whose connections open their sockets through the policy."""

    class GuardedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return _new_guarded_conn(self, policy)

    class GuardedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return _new_guarded_conn(self, policy)

    class GuardedHTTPPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    return {"http": GuardedHTTPPool, "https": GuardedHTTPSPool}


class GuardedAdapter(HTTPAdapter):
    """A transport adapter whose pools connect only where the policy allows."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self.policy)

    def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
        raise OutboundRefused("proxies are not used for tenant requests")


def outbound_session(policy: OutboundPolicy) -> requests.Session:
    """A requests session for one tenant call: guarded sockets, no redirects, no env."""
    session = requests.Session()
    session.trust_env = False
    session.max_redirects = 0
    adapter = GuardedAdapter(policy)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
