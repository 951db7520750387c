"""One way to turn a REDIS_URL into a client, for the three shapes of deployment Pulse runs on:

- `redis://host:port/db`, `rediss://…`, `unix:///path?db=0`: one server (redis-py's own URLs);
- `redis+cluster://host:port,host:port`: a Redis (or Valkey) Cluster, every address a seed;
- `redis+sentinel://host:port,host:port/service[/db]`: the primary that Sentinel names for
  `service`, followed across failovers.

The cluster and sentinel schemes are ours (CONTRACT §11): redis-py has no URL for either.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote, urlsplit

from redis import Redis
from redis.asyncio import BlockingConnectionPool, ConnectionPool
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.cluster import ClusterNode, RedisCluster
from redis.sentinel import Sentinel

CLUSTER_SCHEME = "redis+cluster"
SENTINEL_SCHEME = "redis+sentinel"


@dataclass(frozen=True)
class RedisTarget:
    """What a REDIS_URL names: its kind, the addresses, and what else the URL carries."""

    kind: str  # "single", "cluster" or "sentinel"
    url: str
    hosts: tuple[tuple[str, int], ...] = ()
    service: str | None = None
    db: int = 0
    password: str | None = None
    username: str | None = None


def parse_redis_url(url: str) -> RedisTarget:
    """Which deployment the URL names; ValueError (saying why) for a malformed one."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in (CLUSTER_SCHEME, SENTINEL_SCHEME):
        return RedisTarget("single", url)
    parts = urlsplit(url)
    auth, _, hostlist = parts.netloc.rpartition("@")
    username, _, password = auth.partition(":") if auth else ("", "", "")
    hosts = tuple(_host_port(item, url) for item in hostlist.split(",") if item)
    if not hosts:
        raise ValueError(f"REDIS_URL {scheme}:// needs at least one host:port")
    path = [segment for segment in parts.path.split("/") if segment]
    target = RedisTarget(
        "cluster",
        url,
        hosts,
        password=unquote(password) or None,
        username=unquote(username) or None,
    )
    if scheme == CLUSTER_SCHEME:
        if path:
            raise ValueError("a Redis Cluster has one database: drop the /db from REDIS_URL")
        return target
    if not path:
        raise ValueError("REDIS_URL redis+sentinel:// needs the service name: …/mymaster")
    db = int(path[1]) if len(path) > 1 and path[1].isdigit() else 0
    return replace(target, kind="sentinel", service=unquote(path[0]), db=db)


def connect_redis(url: str, **options: Any) -> Any:
    """A synchronous client for the URL; `options` are redis-py connection options."""
    target = parse_redis_url(url)
    if target.kind == "single":
        return Redis.from_url(url, **options)
    options.update(password=target.password, username=target.username)
    if target.kind == "cluster":
        nodes = [ClusterNode(host, port) for host, port in target.hosts]
        options.pop("health_check_interval", None)  # per-node connections check themselves
        return RedisCluster(startup_nodes=nodes, **options)
    auth = {"password": target.password, "username": target.username}
    sentinel = Sentinel(list(target.hosts), sentinel_kwargs=auth, **options)
    return sentinel.master_for(str(target.service), db=target.db)


def is_cluster_url(url: str) -> bool:
    """Whether the URL names a Redis Cluster."""
    return parse_redis_url(url).kind == "cluster"


def connect_async_redis(
    url: str, max_connections: int = 100, wait_s: float = 0.0, **options: Any
) -> Any:
    """An asyncio client for the URL, holding at most `max_connections` (per node, on a
    cluster); on one server, a command finding them all busy waits up to `wait_s` for one
    (0: fails at once, redis-py's default). `options` are redis-py connection options."""
    target = parse_redis_url(url)
    if target.kind == "single":
        sizing: dict[str, Any] = {"max_connections": max_connections, **options}
        if wait_s == 0:
            return AsyncRedis.from_pool(ConnectionPool.from_url(url, **sizing))
        return AsyncRedis.from_pool(BlockingConnectionPool.from_url(url, timeout=wait_s, **sizing))
    options.update(password=target.password, username=target.username)
    if target.kind == "cluster":
        # the cluster client keeps a pool per node and no blocking pool: a busy node's
        # commands fail fast and the caller's retry (the hub's, the poll's) takes over
        nodes = [AsyncClusterNode(host, port) for host, port in target.hosts]
        options.pop("health_check_interval", None)
        return AsyncRedisCluster(startup_nodes=nodes, max_connections=max_connections, **options)
    auth = {"password": target.password, "username": target.username}
    sentinel = AsyncSentinel(list(target.hosts), sentinel_kwargs=auth, **options)
    return sentinel.master_for(str(target.service), db=target.db, max_connections=max_connections)


def _host_port(item: str, url: str) -> tuple[str, int]:
    host, _, port = item.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"REDIS_URL {url.split('://')[0]}:// wants host:port, not {item!r}")
    return host, int(port)
