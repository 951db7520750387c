"""`python app.py …`: run roles and the admin commands of the contract."""

from __future__ import annotations

import argparse
import contextlib
import gc
import getpass
import logging
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING
from urllib.parse import unquote

from app import logs
from app.settings import Settings, masked_url

if TYPE_CHECKING:  # the CLI loads services only when a command needs them
    from app.services import Services

ROLES = ("all", "web", "stream", "worker")
ADMIN_COMMANDS = (
    "create-user",
    "create-api-key",
    "revoke-api-key",
    "disable-user",
    "set-role",
    "reset-password",
)
# Connections the kernel may hold for the server before it accepts them (capped by
# net.core.somaxconn): a reconnect storm arrives faster than one event loop accepts.
LISTEN_BACKLOG = 4096
log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
GRACEFUL_SHUTDOWN_S = 3
# The WebSocket protocol's own pings (uvicorn's default is every 20 s) only find peers that
# vanished without closing; keeping proxies' idle timers busy is the gateway's
# `{"type": "ping"}` every 20 s. At 60 s a dead peer is dropped within 80 s (ping + 20 s
# pong timeout) instead of 40 s, for a third of the per-socket timer wake-ups and writes.
WS_PING_INTERVAL_S = 60.0
WORKER_STOP_S = 4.0  # its pending entries are safe in the stream: the next worker takes them


class StopSignals:
    """SIGTERM and SIGINT as SystemExit, so that every `finally` of the run (the worker child,
    the embedded servers) runs: SIGTERM's default action ends the process without any, and
    atexit handlers don't run then either. Held back while the embedded servers start, so a
    start is never cut in half (a server half started would be left running)."""

    def __init__(self) -> None:
        """Nothing held, nothing received yet; install() puts the handlers in place."""
        self._holding = False
        self._received: int | None = None

    def install(self) -> None:
        """Handle both signals in this process (uvicorn puts these handlers back when done)."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._handle)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Defer a stop signal to the end of the block."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
            if self._received is not None:
                self._handle(self._received, None)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self._holding:
            self._received = signum
            return
        for sig in STOP_SIGNALS:  # a second signal must not cut the cleanup short
            signal.signal(sig, signal.SIG_IGN)
        raise SystemExit(128 + signum)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="app.py", description="Pulse: live analytics")
    sub = parser.add_subparsers(dest="command")
    for role in ROLES:
        sub.add_parser(role, help=f"run the {role} role" if role != "all" else "run every role")
    user = sub.add_parser("create-user", help="create a user (password from stdin)")
    user.add_argument("--tenant", required=True)
    user.add_argument("--username", required=True)
    user.add_argument("--email", required=True)
    user.add_argument("--role", required=True, choices=("admin", "analyst", "viewer"))
    key = sub.add_parser("create-api-key", help="create an API key and print it once")
    key.add_argument("--tenant", required=True)
    key.add_argument("--name", required=True)
    key.add_argument("--scope", required=True, choices=("ingest", "read", "embed"))
    audit = sub.add_parser("verify-audit", help="check the audit log's hash chains")
    audit.add_argument("--tenant", help="only this tenant's chain")
    revoke = sub.add_parser("revoke-api-key", help="revoke the tenant's API key of this name")
    revoke.add_argument("--tenant", required=True)
    revoke.add_argument("--name", required=True)
    disable = sub.add_parser("disable-user", help="disable a user and end their sessions")
    disable.add_argument("--tenant", required=True)
    disable.add_argument("--username", required=True)
    set_role = sub.add_parser("set-role", help="change a user's role")
    set_role.add_argument("--tenant", required=True)
    set_role.add_argument("--username", required=True)
    set_role.add_argument("--role", required=True, choices=("admin", "analyst", "viewer"))
    reset = sub.add_parser("reset-password", help="print a one-time password reset link")
    reset.add_argument("--tenant", required=True)
    reset.add_argument("--username", required=True)
    args = parser.parse_args(argv)
    args.command = args.command or "all"
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point of app.py."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    settings = Settings()
    logs.configure(settings.log_format)
    from app.embedded import resolve

    stop_signals = StopSignals()
    stop_signals.install()
    embedded = None
    try:
        with stop_signals.held():
            if args.command in ("all", "web", "stream"):
                _say_what_is_embedded(settings)
            settings, embedded = resolve(settings)
        if args.command in ADMIN_COMMANDS:
            return _admin_command(args, settings)
        if args.command == "verify-audit":
            return _verify_audit(args.tenant, settings)
        return _run_role(args.command, settings)
    finally:
        if embedded is not None:
            embedded.stop()
        # the interpreter's last garbage collections walk every object of Dash, Plotly and
        # Polars (seconds on a busy machine) only to free memory that exit returns anyway
        gc.freeze()


def _admin_command(args: argparse.Namespace, settings: Settings) -> int:
    from app.services import Services
    from data.domain.errors import DomainError
    from data.stores.accounts import AccountError
    from data.stores.db import migrate

    services = Services.build(settings)
    migrate(services.engine)
    try:
        if args.command == "create-user":
            password = _read_password()
            services.accounts.create_user(
                args.tenant, args.username, args.email, args.role, password
            )
            print(f"created {args.role} {args.username} in tenant {args.tenant}")
        elif args.command == "create-api-key":
            print(services.accounts.create_api_key(args.tenant, args.name, args.scope))
        elif args.command == "reset-password":
            print(_reset_link(services, args.tenant, args.username))
        else:
            _administer(args, services)
    except (AccountError, DomainError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        services.close()
    return 0


def _verify_audit(tenant: str | None, settings: Settings) -> int:
    """0 when every chain (or the tenant's) holds; 1 naming the first broken row."""
    from app.services import Services
    from data.stores.audit import AuditLog
    from data.stores.db import migrate

    services = Services.build(settings)
    try:
        migrate(services.engine)
        checked, broken = AuditLog(services.engine).verify(tenant)
    finally:
        services.close()
    if broken is not None:
        print(f"audit chain broken after {checked - 1} good row(s): {broken}", file=sys.stderr)
        return 1
    print(f"audit chain intact: {checked} row(s) checked")
    return 0


def _administer(args: argparse.Namespace, services: Services) -> None:
    """revoke-api-key, disable-user, set-role: as an admin would through /api, audited
    with no acting user; NotFound names an unknown tenant, user or key."""
    from app.api.admin import end_access
    from data.domain.errors import NotFound
    from data.stores.administration import Administration

    admin = Administration(services.accounts, services.clock)
    if not services.accounts.tenant_exists(args.tenant):
        raise NotFound(f"tenant {args.tenant!r}")
    if args.command == "revoke-api-key":
        keys = admin.key_named(args.tenant, args.name)
        if not keys:
            raise NotFound(f"live API key {args.name!r} in tenant {args.tenant!r}")
        for key in keys:
            admin.revoke_key(args.tenant, None, key.key_id)
        print(f"revoked {len(keys)} API key(s) named {args.name} in tenant {args.tenant}")
        return
    user = admin.user_named(args.tenant, args.username)
    if args.command == "disable-user":
        admin.change_user(args.tenant, None, user.user_id, active=False)
        end_access(services, user.user_id)
        print(f"disabled {args.username} in tenant {args.tenant}; their sessions are ended")
    else:
        admin.change_user(args.tenant, None, user.user_id, role=args.role)
        print(f"{args.username} in tenant {args.tenant} is now {args.role}")


def _reset_link(services: Services, tenant_id: str, username: str) -> str:
    """A one-time reset link (valid an hour) for an operator to hand over."""
    from data.domain.account_mail import RESET_PATH, link
    from data.stores.password_resets import PasswordResets

    token = PasswordResets(services.engine, services.clock).issue_for(tenant_id, username)
    s = services.settings
    return link(s.public_url or f"http://{s.host}:{s.port}", RESET_PATH, token)


def _read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Password: ")
    return sys.stdin.readline().rstrip("\n")


def _run_role(role: str, settings: Settings) -> int:
    if role == "worker":
        from app.worker.jobs import run_worker

        run_worker(settings)
        return 0
    if role == "all" or settings.web_processes > 1:
        _share_metrics(settings)
    allow_many_open_files()
    import uvicorn

    from app.asgi import ROLES_ENV
    from app.bootstrap import ensure_demo_tenant
    from app.drain import DRAIN_ENV, in_flight_wait_s
    from app.services import Services
    from data.stores.db import migrate

    services = Services.build(settings)
    step("bringing the database schema up to date")
    migrate(services.engine)
    worker = None
    password = None
    if role == "all":
        step("checking the demo tenant and its admin")
        password = ensure_demo_tenant(services)
        step("starting the worker (ingest writer, sources, alerts)")
    step(f"serving pages, /api and /ws on {settings.host}:{settings.port}")
    print(banner(settings, password), flush=True)
    # Each server process builds its own app from the environment, which now names the
    # resolved (possibly embedded) services and the roles to serve.
    os.environ.update(_resolved_env(settings))
    os.environ[ROLES_ENV] = ",".join(r for r in ("web", "stream") if role in ("all", r))
    # behind a load balancer (a role of its own) SIGTERM drains; `all` stops quickly
    drains = role != "all"
    os.environ[DRAIN_ENV] = "1" if drains else "0"
    graceful_s = in_flight_wait_s(settings) if drains else GRACEFUL_SHUTDOWN_S
    try:
        if role == "all":  # inside the try: a stop signal right after the spawn still stops it
            worker = _spawn_worker(settings)
        uvicorn.run(
            "app.asgi:from_environment",
            factory=True,
            workers=settings.web_processes,
            host=settings.host,
            port=settings.port,
            ws="websockets-sansio",
            ws_per_message_deflate=False,
            ws_ping_interval=WS_PING_INTERVAL_S,
            log_level="warning",
            proxy_headers=True,
            backlog=LISTEN_BACKLOG,
            # open /ws sockets and long-polls must not hold up a stop (all of it within 10 s);
            # a drain leaves requests in flight what DRAIN_TIMEOUT_S has left (app/drain.py)
            timeout_graceful_shutdown=graceful_s,
        )
    finally:
        if worker is not None:
            _stop_worker(worker)
        services.close()
    return 0


def step(text: str) -> None:
    """One line of what a start is doing, so a first run (initdb, installs) never looks hung."""
    print(f"==> {text}", flush=True)


def _say_what_is_embedded(settings: Settings) -> None:
    var_dir = settings.var_dir.expanduser().resolve()
    if not (settings.database_url or "").strip():
        first = "" if (var_dir / "pg").exists() else " (first start: initialising it)"
        step(f"starting the embedded PostgreSQL in {var_dir / 'pg'}{first}")
    if not (settings.redis_url or "").strip():
        step(f"starting the embedded Redis (Valkey) in {var_dir / 'redis'}")


def banner(settings: Settings, admin_password: str | None) -> str:
    """What a person starting Pulse needs next: where it is, how to sign in, where data is."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    lines = ["", f"  Pulse is running on http://{host}:{settings.port}"]
    if admin_password:
        lines.append(
            f"  Sign in as 'admin' with password '{admin_password}' (shown once; tenant 'demo')"
        )
    var_dir = str(settings.var_dir.expanduser().resolve())
    database_url, redis_url = settings.require_urls()
    for name, url in (("PostgreSQL", database_url), ("Redis", redis_url)):
        where = f"embedded, under {var_dir}" if var_dir in unquote(url) else masked_url(url)
        lines.append(f"  {name}: {where}")
    lines += ["  Ctrl-C stops Pulse and the servers it started; the data stays.", ""]
    return "\n".join(lines)


def allow_many_open_files() -> None:
    """Raise this process's open-file soft limit to its hard limit (the server processes
    inherit it): every /ws viewer holds a descriptor, and the usual soft limit of 1,024
    would refuse a reconnect storm of a thousand viewers."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:  # e.g. an unlimited hard limit the kernel refuses
        log.warning("could not raise the open-file limit from %s to %s: %s", soft, hard, exc)


def _stop_worker(worker: subprocess.Popen[bytes]) -> None:
    """SIGTERM the worker child and wait for it; kill it if it does not finish in time."""
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=WORKER_STOP_S)
    except subprocess.TimeoutExpired:
        print(
            f"  worker {worker.pid} did not stop within {WORKER_STOP_S}s; killing it",
            file=sys.stderr,
            flush=True,
        )
        worker.kill()
        worker.wait()


def _share_metrics(settings: Settings) -> None:
    """Let every process of this run (server processes, the worker) count into one place
    that /metrics adds up. Set before prometheus_client is first imported; wiped per run."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    directory = (settings.var_dir / "metrics").resolve()
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def _resolved_env(settings: Settings) -> dict[str, str]:
    """The environment that points a child process at the same (possibly embedded) services."""
    database_url, redis_url = settings.require_urls()
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": settings.require_secret(),
        "DEMO_DATA": "1" if settings.demo_data else "0",
    }


def _spawn_worker(settings: Settings) -> subprocess.Popen[bytes]:
    """The worker role as a child process, on the same (possibly embedded) services."""
    env = {**os.environ, **_resolved_env(settings)}
    return subprocess.Popen([sys.executable, "app.py", "worker"], env=env)
