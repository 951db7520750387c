"""`make cluster-up` / `make cluster-down` (CONTRACT §11): Pulse as a cluster on this machine's
loopback. 2 web, 2 stream and 2 worker processes (`python app.py <role>`) behind nginx, a
Redis Cluster of 3 primaries with a replica each (or, `--redis single`, one server), and
PostgreSQL with one streaming read replica, all under var/cluster/.

Every server is a daemon and every role runs in a session of its own: they outlive the
command that started them. What was started is recorded in var/cluster/cluster.json as it
starts, so that cluster-down (or a failed cluster-up) stops exactly that, then removes the
directory.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from app.cluster import servers
from app.cluster.layout import ClusterState, Layout, Started
from app.settings import Settings

log = logging.getLogger(__name__)

ROLE_READY_TIMEOUT_S = 90.0
# the roles drain on SIGTERM (app/drain.py); cluster-down waits that long, then kills
ROLE_DRAIN_S = 5.0
# what would point a role elsewhere than the cluster's own settings
SCRUBBED_ENV = ("PROMETHEUS_MULTIPROC_DIR", "WEB_PROCESSES", "PULSE_SERVE_ROLES", "PULSE_DRAIN")


def up(layout: Layout, say: bool = True) -> ClusterState:
    """Start everything and wait until nginx serves /readyz; on a failure, stop what started."""
    existing = ClusterState.load(layout.state_file)
    if existing is not None and any(servers.ours(p) for p in existing.processes):
        raise RuntimeError(f"a cluster is already up in {layout.root}: run make cluster-down")
    layout.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    layout.logs.mkdir(exist_ok=True)
    state = ClusterState(layout.url, layout.redis_mode, redis_base_port=layout.redis_base_port)
    state.secret_key = secrets.token_urlsafe(32)
    state.save(layout.state_file)
    try:
        _start(layout, state, say)
    except BaseException:
        down(layout, say=False, keep_files=True)  # the logs say why; cluster-down removes them
        raise
    return state


def _start(layout: Layout, state: ClusterState, say: bool) -> None:
    step = _stepper(say)
    step(f"starting PostgreSQL + replica and Redis ({layout.redis_mode}) in {layout.root}")
    with ThreadPoolExecutor(2) as pool:  # initdb and the Redis nodes start side by side
        postgres = pool.submit(servers.start_postgres, layout)
        redis = pool.submit(servers.start_redis, layout)
        primary, replica = postgres.result()
        state.redis_url, redis_processes = redis.result()
    state.database_url, state.database_replica_url = primary.url, replica.url
    state.processes += servers.postgres_records(layout) + redis_processes
    state.save(layout.state_file)
    step("bringing the database schema up to date (once, before any role starts)")
    password = _migrate(state)
    counts = (len(layout.web_ports), len(layout.stream_ports), layout.workers)
    step("starting {} web, {} stream and {} worker processes".format(*counts))
    _start_roles(layout, state)
    state.save(layout.state_file)
    step("starting nginx")
    state.processes.append(servers.start_nginx(layout))
    state.save(layout.state_file)
    servers.wait_http_ok(f"{layout.url}/readyz", ROLE_READY_TIMEOUT_S)
    if say:
        print(banner(layout, state, password), flush=True)


def _migrate(state: ClusterState) -> str | None:
    """Migrate the primary and create the demo tenant's admin: the roles then start on a
    schema that is there (each would otherwise take the migration lock in turn)."""
    from app.bootstrap import ensure_demo_tenant
    from app.services import Services
    from data.stores.db import migrate

    services = Services.build(cluster_settings(state), pool_size=1)
    try:
        migrate(services.engine)
        return ensure_demo_tenant(services)
    finally:
        services.close()


def cluster_settings(state: ClusterState) -> Settings:
    return Settings(
        database_url=state.database_url,
        redis_url=state.redis_url,
        secret_key=state.secret_key,
        demo_data=False,
    )


def role_env(layout: Layout, state: ClusterState, name: str, port: int | None) -> dict[str, str]:
    """The environment of one role process: the cluster's services, its own port and
    var directory (nothing embedded is started beside the cluster's)."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env.update(
        DATABASE_URL=state.database_url,
        DATABASE_REPLICA_URL=state.database_replica_url,
        REDIS_URL=state.redis_url,
        SECRET_KEY=state.secret_key,
        DEMO_DATA="0",
        HOST="127.0.0.1",
        FORWARDED_ALLOW_IPS="127.0.0.1",
        VAR_DIR=str(layout.root / "roles" / name),
        DRAIN_TIMEOUT_S=str(ROLE_DRAIN_S),
        DRAIN_UNREADY_S="1",
        **layout.role_env,
    )
    if port is not None:
        env["PORT"] = str(port)
    return env


def start_role(layout: Layout, state: ClusterState, name: str, port: int | None) -> Started:
    """`python app.py <role>` in a session of its own, its output in var/cluster/logs."""
    role = name.split("-", 1)[0]
    log = layout.logs / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "app.py", role],
            cwd=servers.ROOT,
            env=role_env(layout, state, name, port),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    return servers.started(name, process.pid, port, log)


def _start_roles(layout: Layout, state: ClusterState) -> None:
    names: list[tuple[str, int | None]] = [
        (f"web-{i}", port) for i, port in enumerate(layout.web_ports, 1)
    ]
    names += [(f"stream-{i}", port) for i, port in enumerate(layout.stream_ports, 1)]
    names += [(f"worker-{i}", None) for i in range(1, layout.workers + 1)]
    for name, port in names:
        state.processes.append(start_role(layout, state, name, port))
        state.save(layout.state_file)
    for record in state.processes:
        if record.name.startswith(("web", "stream")) and record.port is not None:
            wait_role_ready(record)
    for record in state.named("worker"):
        if servers.ours(record) is None:
            raise RuntimeError(f"{record.name} exited; see {record.log}")


def wait_role_ready(record: Started, timeout: float = ROLE_READY_TIMEOUT_S) -> None:
    """Wait for the role's /readyz, naming its log when it does not come up."""
    try:
        url = f"http://127.0.0.1:{record.port}/readyz"
        servers.wait_http_ok(url, timeout, servers.ours(record))
    except RuntimeError as err:
        tail = Path(record.log).read_text(errors="replace")[-1500:] if record.log else ""
        raise RuntimeError(f"{record.name}: {err}; see {record.log}:\n{tail}") from err


def down(layout: Layout, say: bool = True, keep_files: bool = False) -> None:
    """Stop what cluster-up recorded (roles, nginx, Redis, PostgreSQL) and remove the
    directory (unless `keep_files`). Stopping what is already gone is no error: a chaos
    test killed some."""
    state = ClusterState.load(layout.state_file)
    if state is None and not layout.root.exists():
        if say:
            print(f"no cluster in {layout.root}")
        return
    records = [] if state is None else state.processes
    roles = [r for r in records if r.name.split("-")[0] in ("web", "stream", "worker")]
    with ThreadPoolExecutor(max(1, len(roles))) as pool:  # they drain side by side
        for record in roles:
            pool.submit(servers.stop_process, record, (signal.SIGTERM,), ROLE_DRAIN_S + 3)
    for record in (r for r in records if r.name == "nginx"):
        servers.stop_process(record, (signal.SIGQUIT,), 5.0)
    mode = layout.redis_mode if state is None else state.redis_mode
    base_port = layout.redis_base_port if state is None else state.redis_base_port
    redis_records = [r for r in records if r.name.startswith("redis")]
    _attempt(servers.stop_redis, Layout(layout.root, mode), redis_records, base_port)
    _attempt(servers.stop_postgres, layout)
    for record in records:  # whatever did not stop when asked (a postmaster: fast shutdown)
        servers.stop_process(record, (signal.SIGINT,), 10.0)
    if not keep_files:
        shutil.rmtree(layout.root, ignore_errors=True)
    if say:
        print(f"stopped {len(records)} processes and removed {layout.root}")


def _attempt(stop: Callable[..., None], *args: object) -> None:
    """One stage of cluster-down; a failure is logged and the next stage still runs."""
    try:
        stop(*args)
    except Exception:
        log.exception("cluster-down: %s failed; the processes left are killed", stop.__name__)


def banner(layout: Layout, state: ClusterState, password: str | None) -> str:
    """Where the cluster is, what runs in it, and where each process writes its log."""
    lines = ["", f"  Pulse (cluster) is running on {layout.url}"]
    if password:
        lines.append(f"  Sign in as 'admin' with password '{password}' (shown once; tenant 'demo')")
    lines.append(f"  PostgreSQL: {state.database_url} (replica {state.database_replica_url})")
    lines.append(f"  Redis ({state.redis_mode}): {state.redis_url}")
    lines.append("  processes:")
    for record in state.processes:
        where = f" :{record.port}" if record.port else ""
        lines.append(f"    {record.name:<12} pid {record.pid}{where}")
    lines.append(f"  logs: {layout.logs}/ (roles), {layout.root}/nginx/logs/,")
    lines.append(f"        {layout.root}/pg/*.log, {layout.root}/redis/")
    lines += [f"  make cluster-down stops it all and removes {layout.root}", ""]
    return "\n".join(lines)


def _stepper(say: bool) -> Callable[[str], None]:
    started_at = time.monotonic()

    def step(text: str) -> None:
        if say:
            print(f"==> [{time.monotonic() - started_at:5.1f}s] {text}", flush=True)

    return step


def root_of(path: str | None) -> Path:
    return Path(path or "var/cluster").resolve()
