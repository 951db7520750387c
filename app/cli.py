"""`python app.py …`: run roles and the admin commands of the contract."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import resource
import signal
import subprocess
import sys

from app import logs
from app.settings import Settings

ROLES = ("all", "web", "stream", "worker")
# Connections the kernel may hold for the server before it accepts them (capped by
# net.core.somaxconn): a reconnect storm arrives faster than one event loop accepts.
LISTEN_BACKLOG = 4096
log = logging.getLogger(__name__)


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
    key.add_argument("--scope", required=True, choices=("ingest", "read"))
    args = parser.parse_args(argv)
    args.command = args.command or "all"
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point of app.py."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    settings = Settings()
    logs.configure(settings.log_format)
    from app.embedded import resolve

    settings, embedded = resolve(settings)
    try:
        if args.command in ("create-user", "create-api-key"):
            return _admin_command(args, settings)
        return _run_role(args.command, settings)
    finally:
        embedded.stop()


def _admin_command(args: argparse.Namespace, settings: Settings) -> int:
    from app.services import Services
    from data.accounts import AccountError
    from data.db import migrate

    services = Services.build(settings)
    migrate(services.engine)
    try:
        if args.command == "create-user":
            password = _read_password()
            services.accounts.create_user(
                args.tenant, args.username, args.email, args.role, password
            )
            print(f"created {args.role} {args.username} in tenant {args.tenant}")
        else:
            print(services.accounts.create_api_key(args.tenant, args.name, args.scope))
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        services.close()
    return 0


def _read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Password: ")
    return sys.stdin.readline().rstrip("\n")


def _run_role(role: str, settings: Settings) -> int:
    if role == "worker":
        from app.worker import run_worker

        run_worker(settings)
        return 0
    if role == "all" or settings.web_processes > 1:
        _share_metrics(settings)
    allow_many_open_files()
    import uvicorn

    from app.asgi import ROLES_ENV
    from app.bootstrap import ensure_demo_tenant
    from app.services import Services
    from data.db import migrate

    services = Services.build(settings)
    migrate(services.engine)
    worker = None
    if role == "all":
        password = ensure_demo_tenant(services)
        if password:
            print(
                f"\n  Pulse admin: username 'admin', password '{password}' (shown once)\n",
                flush=True,
            )
        worker = _spawn_worker(settings)
    print(f"  Pulse on http://{settings.host}:{settings.port}\n", flush=True)
    # Each server process builds its own app from the environment, which now names the
    # resolved (possibly embedded) services and the roles to serve.
    os.environ.update(_resolved_env(settings))
    os.environ[ROLES_ENV] = ",".join(r for r in ("web", "stream") if role in ("all", r))
    try:
        uvicorn.run(
            "app.asgi:from_environment",
            factory=True,
            workers=settings.web_processes,
            host=settings.host,
            port=settings.port,
            ws="websockets-sansio",
            ws_per_message_deflate=False,
            log_level="warning",
            proxy_headers=True,
            backlog=LISTEN_BACKLOG,
        )
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=15)
        services.close()
    return 0


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
