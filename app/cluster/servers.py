"""The servers under the loopback cluster: PostgreSQL with a streaming replica, Redis (a
Redis Cluster or one server) and nginx in front of the roles. Each start returns what
`cluster-down` needs to stop it again."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import psutil
import requests

from app.cluster.layout import Layout, Started
from app.embedded.processes import is_alive, live_process, terminate
from app.embedded.redis import EmbeddedRedis
from app.embedded.redis_cluster import LoopbackRedisCluster
from app.embedded.replica import LoopbackPostgres, start_primary, start_replica

ROOT = Path(__file__).resolve().parents[2]
NGINX_TEMPLATE = ROOT / "deploy" / "nginx" / "pulse-loopback.conf.template"
TEMPLATE_LISTEN = "listen 127.0.0.1:18080;"
TEMPLATE_TEMP_PATHS = "scgi_temp_path tmp/scgi;\n"
# Run by root, nginx's workers are `nobody`, who cannot enter a 0700 var/cluster (nor a test's
# temporary directory): bodies and responses are kept in memory, never in tmp/ (a request
# body is at most the 16 MiB client_max_body_size, and most are a few KiB).
IN_MEMORY = """scgi_temp_path tmp/scgi;
    client_body_buffer_size 16m;
    proxy_max_temp_file_size 0;
"""
STOP_TIMEOUT_S = 10.0


def started(name: str, pid: int, port: int | None = None, log: Path | None = None) -> Started:
    """The record of a process that runs now."""
    created = psutil.Process(pid).create_time()
    return Started(name, pid, created, port, None if log is None else str(log))


def ours(record: Started) -> psutil.Process | None:
    """The live process of this record, None when it is gone (or its pid was reused)."""
    proc = live_process(record.pid)
    if proc is None or abs(proc.create_time() - record.created) > 1.0:
        return None
    return proc


def stop_process(record: Started, signals: tuple[int, ...], timeout: float) -> None:
    """Each signal in turn, then SIGKILL, until the process is gone."""
    proc = ours(record)
    if proc is not None:
        terminate(proc, signals, timeout)


# PostgreSQL ------------------------------------------------------------------------------


def postgres_dirs(layout: Layout) -> tuple[Path, Path]:
    return layout.root / "pg" / "primary", layout.root / "pg" / "replica"


def start_postgres(layout: Layout) -> tuple[LoopbackPostgres, LoopbackPostgres]:
    """A primary and one `pg_basebackup -R` streaming replica of it."""
    primary_dir, replica_dir = postgres_dirs(layout)
    primary = start_primary(primary_dir, layout.postgres_ports[0])
    replica = start_replica(primary, replica_dir, layout.postgres_ports[1])
    return primary, replica


def postgres_records(layout: Layout) -> list[Started]:
    """The postmasters started, for the process list (pg_ctl stops them)."""
    records = []
    dirs = postgres_dirs(layout)
    named = zip(("postgres", "pg-replica"), dirs, layout.postgres_ports, strict=True)
    for name, directory, port in named:
        pid = int((directory / "postmaster.pid").read_text().split("\n", 1)[0])
        records.append(started(name, pid, port, directory.with_name(directory.name + ".log")))
    return records


def stop_postgres(layout: Layout) -> None:
    """The replica first (it would only retry its primary), then the primary."""
    primary, replica = postgres_dirs(layout)
    LoopbackPostgres(replica, layout.postgres_ports[1]).stop()
    LoopbackPostgres(primary, layout.postgres_ports[0]).stop()


# Redis ------------------------------------------------------------------------------------


def redis_cluster(layout: Layout, base_port: int | None = None) -> LoopbackRedisCluster:
    """The 3-primary cluster (a replica each) under var/cluster/redis."""
    return LoopbackRedisCluster(layout.root / "redis", base_port or layout.redis_base_port)


def start_redis(layout: Layout) -> tuple[str, list[Started]]:
    """The roles' REDIS_URL and the server processes started for it."""
    if layout.redis_mode == "cluster":
        cluster = redis_cluster(layout)
        cluster.start()
        nodes = [(node, node.pid()) for node in cluster.nodes]
        return cluster.url, [started(f"redis-{n.port}", pid, n.port) for n, pid in nodes if pid]
    server = EmbeddedRedis(layout.root / "redis")
    server.ensure_running()  # a daemon: it outlives this process, cluster-down stops it
    pid = server.pid
    return server.url, [started("redis", pid)] if pid else []


def stop_redis(layout: Layout, records: list[Started], base_port: int) -> None:
    if layout.redis_mode == "cluster" and base_port:
        redis_cluster(layout, base_port).stop()
    for record in records:  # whatever the cluster's own stop missed, and the single server
        stop_process(record, (15,), STOP_TIMEOUT_S)


# nginx ------------------------------------------------------------------------------------


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if found is None:
        raise RuntimeError("cluster-up needs nginx (Debian: apt-get install nginx-light)")
    return found


def render_nginx(layout: Layout, web_ports: list[int], stream_ports: list[int]) -> str:
    """deploy/nginx/pulse-loopback.conf.template with the roles' ports; one port of a kind
    is named twice (an upstream of one process, for the 1-of-each baseline)."""
    web = [*web_ports, *web_ports][:2]
    stream = [*stream_ports, *stream_ports][:2]
    text = NGINX_TEMPLATE.read_text()
    for name, value in (("WEB_PORT_1", web[0]), ("WEB_PORT_2", web[1])):
        text = text.replace(f"@{name}@", str(value))
    for name, value in (("STREAM_PORT_1", stream[0]), ("STREAM_PORT_2", stream[1])):
        text = text.replace(f"@{name}@", str(value))
    text = text.replace(TEMPLATE_TEMP_PATHS, IN_MEMORY)
    return text.replace(TEMPLATE_LISTEN, f"listen 127.0.0.1:{layout.nginx_port};")


def nginx_dir(layout: Layout) -> Path:
    return layout.root / "nginx"


def start_nginx(layout: Layout) -> Started:
    """nginx as its own daemon, run from var/cluster/nginx with its logs there."""
    prefix = nginx_dir(layout)
    for sub in ("logs", "tmp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(render_nginx(layout, list(layout.web_ports), list(layout.stream_ports)))
    _nginx(layout, "-c", "nginx.conf")
    pid_file = prefix / "nginx.pid"
    deadline = time.monotonic() + 10
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return started("nginx", int(pid_file.read_text().strip()), layout.nginx_port)


def reload_nginx(layout: Layout, web_ports: list[int], stream_ports: list[int]) -> None:
    """Point nginx at these roles' ports (a graceful reload: open sockets stay)."""
    (nginx_dir(layout) / "nginx.conf").write_text(render_nginx(layout, web_ports, stream_ports))
    _nginx(layout, "-c", "nginx.conf", "-s", "reload")
    time.sleep(0.5)  # the new worker takes over; the old one finishes its requests


def _nginx(layout: Layout, *args: str) -> None:
    prefix = nginx_dir(layout)
    done = subprocess.run(
        [nginx_binary(), "-p", f"{prefix}/", *args, "-e", "logs/error.log"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"nginx {' '.join(args)} failed: {done.stderr.strip()}")


def wait_http_ok(url: str, timeout: float, alive: psutil.Process | None = None) -> None:
    """Wait until `url` answers 200 (and, when given, the process serving it still runs)."""
    deadline = time.monotonic() + timeout
    while True:
        if alive is not None and not is_alive(alive):
            raise RuntimeError(f"the process serving {url} exited")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f}s")
        time.sleep(0.2)
