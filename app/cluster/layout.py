"""Where the loopback cluster of `make cluster-up` lives: its ports, its directories, and the
record of what it started (var/cluster/cluster.json), which `make cluster-down` reads."""

from __future__ import annotations

import json
import os
import random
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "cluster.json"
REDIS_MODES = ("cluster", "single")
# What the roles' Redis is when neither --redis nor CLUSTER_REDIS says: the Redis Cluster
# (REDIS_URL=redis+cluster://…, issue 16 item 1); `single` is one server.
DEFAULT_REDIS_MODE = "cluster"


@dataclass(frozen=True)
class Layout:
    """Ports and directories of one loopback cluster: `make cluster-up` uses the defaults
    (nginx on 18080, as deploy/nginx/pulse-loopback.conf.template says); tests pick free ones."""

    root: Path
    redis_mode: str = DEFAULT_REDIS_MODE
    nginx_port: int = 18080
    web_ports: tuple[int, ...] = (18081, 18082)
    stream_ports: tuple[int, ...] = (18083, 18084)
    workers: int = 2
    postgres_ports: tuple[int, int] = (18090, 18091)  # primary, replica
    redis_base_port: int = 18100  # 6 nodes: 3 primaries and their replicas
    role_env: dict[str, str] = field(default_factory=dict)  # extra settings of every role

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def state_file(self) -> Path:
        return self.root / STATE_FILE

    @classmethod
    def on_free_ports(cls, root: Path, redis_mode: str, **changes: Any) -> Layout:
        """A layout whose every port nobody listens on now (for tests and benches that
        must not meet a `make cluster-up` left running)."""
        ports = [free_port() for _ in range(7)]
        return cls(
            root,
            redis_mode,
            nginx_port=ports[0],
            web_ports=(ports[1], ports[2]),
            stream_ports=(ports[3], ports[4]),
            postgres_ports=(ports[5], ports[6]),
            redis_base_port=free_port_run(6),
            **changes,
        )


@dataclass
class Started:
    """One process the cluster started: enough to find it again, and to know it is it."""

    name: str
    pid: int
    created: float  # psutil's create_time: a later process reusing the pid is not ours
    port: int | None = None
    log: str | None = None


@dataclass
class ClusterState:
    """What cluster-up started and the addresses it handed the roles (mode 0600: it holds
    the secret key the roles sign sessions and /ws tokens with)."""

    url: str
    redis_mode: str
    database_url: str = ""
    database_replica_url: str = ""
    redis_url: str = ""
    secret_key: str = ""
    redis_base_port: int = 0
    processes: list[Started] = field(default_factory=list)

    def save(self, path: Path) -> None:
        text = json.dumps(asdict(self), indent=2)
        fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        path.with_suffix(".tmp").replace(path)

    @classmethod
    def load(cls, path: Path) -> ClusterState | None:
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        processes = [Started(**item) for item in raw.pop("processes", [])]
        return cls(**raw, processes=processes)

    def named(self, prefix: str) -> list[Started]:
        """The processes whose name starts with `prefix` (`web`, `stream-2`, …)."""
        return [p for p in self.processes if p.name.startswith(prefix)]


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_run(count: int) -> int:
    """The first of `count` consecutive free loopback ports (the Redis nodes' ports) whose
    cluster bus ports (each + 10,000) are free too. Below the kernel's ephemeral range
    (32768 up), where outgoing connections would take them from under the cluster."""
    rng = random.Random()
    for _ in range(200):
        first = rng.randrange(10_000, 22_000)
        ports = [first + i for i in range(count)]
        if all(_port_free(port) and _port_free(port + 10_000) for port in ports):
            return first
    raise RuntimeError(f"no {count} consecutive free loopback ports")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
