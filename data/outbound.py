"""Where a tenant's sources and webhooks may connect (CONTRACT.md §10).

They act for a tenant, so by default they reach no loopback, link-local, unspecified or
cloud-metadata address, and never Pulse's own PostgreSQL or Redis (not even when
`OUTBOUND_ALLOW` opens their host: "never" is the contract's word). `OUTBOUND_ALLOW` lists
hosts, CIDRs or `host:port` an operator opens besides. Every decision is taken on the
*resolved* address, by the code that connects (see app/outbound.py), so a name that
resolves to a public address at save time and to 127.0.0.1 later (DNS rebinding) is still
refused. Refusals say which host was refused and nothing else: no path, no body.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import psutil
from sqlalchemy.engine import URL, make_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
    }
)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
# 0.0.0.0/8 is "this network": connecting to any of it reaches the local host on Linux.
THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
DEFAULT_PORTS = {
    "http": 80,
    "https": 443,
    "postgresql": 5432,
    "mysql": 3306,
    "mariadb": 3306,
    "mssql": 1433,
    "oracle": 1521,
    "redis": 6379,
}


class OutboundRefused(Exception):
    """A target the outbound policy does not allow; the message names the host only."""


def _plain_address(ip: IPAddress) -> IPAddress:
    """An IPv4-mapped (::ffff:a.b.c.d) or IPv4-compatible (::a.b.c.d) IPv6 address as the
    IPv4 address it really is, so ::ffff:127.0.0.1 is judged as 127.0.0.1."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if int(ip) >> 32 == 0 and int(ip) > 1:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def is_internal(ip: IPAddress) -> bool:
    """True for loopback, link-local, unspecified and metadata addresses (any IPv6 form)."""
    plain = _plain_address(ip)
    return (
        plain.is_loopback
        or plain.is_link_local
        or plain.is_unspecified
        or plain in METADATA_ADDRESSES
        or (isinstance(plain, ipaddress.IPv4Address) and plain in THIS_NETWORK)
    )


def _host_key(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (a literal address as itself, in any spelling)."""
    infos = socket.getaddrinfo(_host_key(host), port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


@dataclass(frozen=True)
class OutboundPolicy:
    """The hosts, networks and host:port pairs opened, and Pulse's own services."""

    networks: tuple[Network, ...] = ()
    hosts: frozenset[str] = frozenset()
    host_ports: frozenset[tuple[str, int]] = frozenset()
    own_endpoints: frozenset[tuple[IPAddress, int]] = frozenset()
    own_names: frozenset[tuple[str, int]] = frozenset()
    own_sockets: tuple[str, ...] = ()
    socket_dirs: tuple[str, ...] = ()  # unix socket directories OUTBOUND_ALLOW opens
    sql_sources_enabled: bool = False

    @classmethod
    def build(
        cls, allow: str, own_urls: Iterable[str | None], sql_sources_enabled: bool = False
    ) -> OutboundPolicy:
        """The policy of an OUTBOUND_ALLOW text and Pulse's own DATABASE_URL / REDIS_URL."""
        networks, hosts, host_ports = _parse_allow(allow)
        socket_dirs = tuple(token for token in allow.split() if token.startswith("/"))
        local = _local_addresses()
        endpoints: set[tuple[IPAddress, int]] = set()
        names: set[tuple[str, int]] = set()
        sockets: list[str] = []
        for url in own_urls:
            for one in _each_host(url or ""):
                _add_own(one, local, endpoints, names, sockets)
        return cls(
            tuple(networks),
            frozenset(hosts),
            frozenset(host_ports),
            frozenset(endpoints),
            frozenset(names),
            tuple(sockets),
            socket_dirs,
            sql_sources_enabled,
        )

    def check_address(self, host: str, ip: IPAddress, port: int) -> None:
        """Refuse a connection to `ip`:`port` (reached through the name `host`)."""
        name, plain = _host_key(host), _plain_address(ip)
        if self.is_own(name, plain, port):
            raise OutboundRefused(f"host {name!r} is not allowed (Pulse's own database or Redis)")
        if self._opened(name, plain, port):
            return
        if name in METADATA_HOSTS or is_internal(plain):
            raise OutboundRefused(f"host {name!r} is not allowed (see OUTBOUND_ALLOW)")

    def is_own(self, name: str, ip: IPAddress, port: int) -> bool:
        """True when (ip, port) or (name, port) is Pulse's own PostgreSQL or Redis."""
        return (ip, port) in self.own_endpoints or (name, port) in self.own_names

    def _opened(self, name: str, ip: IPAddress, port: int) -> bool:
        return (
            name in self.hosts
            or any(ip in net for net in self.networks if net.version == ip.version)
            or (name, port) in self.host_ports
            or (str(ip), port) in self.host_ports
        )

    def check_host(self, host: str, port: int, must_resolve: bool = True) -> list[IPAddress]:
        """Resolve `host` and check every address; the addresses, all allowed. A name that
        does not resolve is refused, unless `must_resolve` is False (a save: the worker may
        see names the web role does not; its connections are checked anyway)."""
        name = _host_key(host)
        if not name:
            raise OutboundRefused("the URL has no host")
        if name in METADATA_HOSTS and name not in self.hosts:
            raise OutboundRefused(f"host {name!r} is not allowed (see OUTBOUND_ALLOW)")
        try:
            addresses = resolve(name, port)
        except (OSError, UnicodeError, ValueError):
            if not must_resolve:
                return []
            raise OutboundRefused(f"host {name!r} does not resolve") from None
        for ip in addresses:
            self.check_address(name, ip, port)
        return addresses

    def check_url(self, url: str, must_resolve: bool = True) -> list[IPAddress]:
        """check_host of an http(s) URL's host and port."""
        parts = urlsplit(url)
        try:
            port = parts.port or DEFAULT_PORTS.get(parts.scheme, 80)
        except ValueError:
            raise OutboundRefused("the URL's port is not a number") from None
        return self.check_host(parts.hostname or "", port, must_resolve)

    def check_socket(self, path: str) -> None:
        """Refuse a unix socket directory unless OUTBOUND_ALLOW names it; Pulse's own
        sockets are refused whatever is allowed."""
        target = os.path.realpath(path)
        if any(_same_or_below(target, own) for own in self.own_sockets):
            raise OutboundRefused("this socket is not allowed (Pulse's own database or Redis)")
        if not any(_same_or_below(target, opened) for opened in self.socket_dirs):
            raise OutboundRefused("unix sockets are not allowed (see OUTBOUND_ALLOW)")

    def check_sql(self, url: str | URL, must_resolve: bool = True) -> list[IPAddress]:
        """The checked addresses an SQL source's URL connects to ([] for an allowed socket)."""
        if not self.sql_sources_enabled:
            raise OutboundRefused("sql sources are disabled (SQL_SOURCES_ENABLED=1 enables them)")
        parsed = make_url(url) if isinstance(url, str) else url
        backend = parsed.get_backend_name()
        if backend == "sqlite" or parsed.drivername.startswith("sqlite"):
            raise OutboundRefused("database files are not allowed")
        query_host = parsed.query.get("host")
        socket_dir = query_host if isinstance(query_host, str) and not parsed.host else None
        socket_params = {"host", "port"} if socket_dir else set()
        unsafe = sorted(
            k for k in parsed.query if k.lower() not in SAFE_SQL_QUERY and k not in socket_params
        )
        if unsafe:
            raise OutboundRefused(f"URL parameter {unsafe[0]!r} is not allowed")
        if socket_dir is not None or not parsed.host or parsed.host.startswith("/"):
            self.check_socket(socket_dir or parsed.host or "/")
            return []
        port = parsed.port or DEFAULT_PORTS.get(backend, 0)
        return self.check_host(parsed.host, port, must_resolve)


def _same_or_below(path: str, directory: str) -> bool:
    directory = os.path.realpath(directory)
    return path == directory or path.startswith(directory.rstrip("/") + "/")


# SQL URL query parameters that choose no host, socket or file (libpq's `host`, `hostaddr`,
# `service`, `passfile`, `sslkey`… would let a URL point elsewhere than its host part).
SAFE_SQL_QUERY = frozenset(
    {"sslmode", "application_name", "connect_timeout", "charset", "target_session_attrs"}
)


def _parse_allow(
    allow: str,
) -> tuple[list[Network], set[str], set[tuple[str, int]]]:
    networks: list[Network] = []
    hosts: set[str] = set()
    host_ports: set[tuple[str, int]] = set()
    for token in allow.split():
        if token.startswith("/"):
            continue  # a socket directory
        try:
            networks.append(ipaddress.ip_network(token.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        host, sep, port = token.rpartition(":")
        if sep and port.isdigit() and host:
            host_ports.add((_host_key(host), int(port)))
            host_ip = _literal(host)
            if host_ip is not None:
                host_ports.add((str(host_ip), int(port)))
        else:
            hosts.add(_host_key(token))
    return networks, hosts, host_ports


def _literal(host: str) -> IPAddress | None:
    try:
        return _plain_address(ipaddress.ip_address(_host_key(host)))
    except ValueError:
        return None


def _local_addresses() -> set[IPAddress]:
    """The addresses of this host's interfaces: a service bound to 0.0.0.0 answers on each."""
    out: set[IPAddress] = set()
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family in (socket.AF_INET, socket.AF_INET6):
                ip = _literal(address.address.split("%", 1)[0])
                if ip is not None:
                    out.add(ip)
    return out


def _each_host(url: str) -> list[str]:
    """A URL per address of a URL that may list several (redis+cluster://h:p,h:p, the
    seeds of a Redis Cluster; redis+sentinel://…, its Sentinels)."""
    scheme, sep, rest = url.partition("://")
    auth, at, hostlist = rest.partition("/")[0].rpartition("@")
    if not sep or "," not in hostlist:
        return [url] if url else []
    return [f"redis://{auth}{at}{host}" for host in hostlist.split(",") if host]


def _add_own(
    url: str,
    local: set[IPAddress],
    endpoints: set[tuple[IPAddress, int]],
    names: set[tuple[str, int]],
    sockets: list[str],
) -> None:
    """Record where one of Pulse's own services listens (by name, address and socket)."""
    parts = urlsplit(url)
    if parts.scheme.startswith("unix"):
        sockets.append(unquote(parts.path))
        return
    base = "redis" if parts.scheme.startswith("redis") else "postgresql"
    port = parts.port or DEFAULT_PORTS[base]
    if base == "postgresql":
        query = make_url(url).query
        query_host, query_port = query.get("host"), query.get("port")
        if isinstance(query_port, str) and query_port.isdigit():
            port = int(query_port)
        if isinstance(query_host, str) and query_host.startswith("/"):
            # The socket's server may listen on TCP too: its port on every local address.
            sockets.append(query_host)
            endpoints.update((ip, port) for ip in _every_local(local))
            return
    host = _host_key(parts.hostname or "localhost")
    names.add((host, port))
    try:
        addresses = {_plain_address(ip) for ip in resolve(host, port)}
    except (OSError, UnicodeError, ValueError):
        addresses = set()
    if any(ip in local or is_internal(ip) for ip in addresses):
        # A local service answers on every address of this host, and on loopback.
        addresses |= _every_local(local)
    endpoints.update((ip, port) for ip in addresses)


def _every_local(local: set[IPAddress]) -> set[IPAddress]:
    return local | {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}
