"""The loopback Redis Cluster that `make cluster-up` and the cluster tests run on, and the
REDIS_URL shapes that name a cluster or a Sentinel-watched primary."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from app.cluster.layout import free_port_run
from app.embedded.redis import valkey_server_binary
from data.stores.redis_connect import connect_redis, parse_redis_url


def test_three_primaries_serve_every_slot_and_the_url_reaches_them(cluster):
    client = connect_redis(cluster.url)
    try:
        assert len(cluster.primaries()) == 3
        keys = [f"pulse-test:{{t{i}}}:latest" for i in range(30)]
        for i, key in enumerate(keys):
            client.set(key, i)
        slots = {client.keyslot(key) for key in keys}
        owners = {client.get_node_from_key(key).port for key in keys}
        assert len(slots) > 3 and len(owners) == 3  # spread over the three shards
        assert [int(client.get(key)) for key in keys] == list(range(30))
    finally:
        client.close()


def test_hash_tagged_keys_share_a_slot_so_a_pipeline_transaction_may_span_them(cluster):
    client = connect_redis(cluster.url)
    try:
        keys = ["pulse-test:{tenant-a}:ingest", "pulse-test:{tenant-a}:live"]
        assert client.keyslot(keys[0]) == client.keyslot(keys[1])
        pipe = client.pipeline(transaction=True)
        pipe.xadd(keys[0], {"p": "1"})
        pipe.xadd(keys[1], {"p": "1"})
        first, second = pipe.execute()
        assert first and second
    finally:
        client.close()


def test_sharded_pubsub_reaches_the_subscriber_on_the_owning_shard(cluster):
    client = connect_redis(cluster.url)
    pubsub = client.pubsub()
    try:
        channel = "pulse-test:{tenant-b}:chan"
        pubsub.ssubscribe(channel)
        deadline = time.monotonic() + 5
        while pubsub.get_sharded_message(timeout=0.1) is None and time.monotonic() < deadline:
            pass  # the subscribe confirmation
        client.spublish(channel, "hello")
        message = None
        while message is None and time.monotonic() < deadline:
            message = pubsub.get_sharded_message(ignore_subscribe_messages=True, timeout=0.2)
        assert message is not None and message["data"] == b"hello"
    finally:
        pubsub.close()
        client.close()


def test_a_write_acknowledged_by_a_replica_survives_its_primary_being_killed(cluster):
    client = connect_redis(cluster.url)
    try:
        key = "pulse-test:{tenant-c}:ingest"
        owner = client.get_node_from_key(key)
        # WAIT on the connection that wrote: the write is on the replica too, which is what
        # "acknowledged" must mean when a primary may die
        pipe = owner.redis_connection.pipeline(transaction=False)
        pipe.xadd(key, {"p": "42"})
        pipe.execute_command("WAIT", 1, 2000)
        assert pipe.execute()[1] == 1
        victim = next(node for node in cluster.nodes if node.port == owner.port)
        cluster.kill_primary(victim)
        time.sleep(1)
        cluster.wait_healthy()
        client.close()
        client = connect_redis(cluster.url)
        entries = client.xrange(key)
        assert [fields[b"p"] for _, fields in entries] == [b"42"]
        assert client.get_node_from_key(key).port != owner.port  # the replica took over
    finally:
        client.close()


@pytest.mark.parametrize(
    ("url", "kind", "hosts", "service", "db"),
    [
        ("redis://127.0.0.1:6379/2", "single", (), None, 0),
        (
            "redis+cluster://10.0.0.1:7000,10.0.0.2:7001",
            "cluster",
            (("10.0.0.1", 7000), ("10.0.0.2", 7001)),
            None,
            0,
        ),
        (
            "redis+sentinel://s1:26379,s2:26379/mymaster/3",
            "sentinel",
            (("s1", 26379), ("s2", 26379)),
            "mymaster",
            3,
        ),
    ],
)
def test_urls_name_their_deployment(url, kind, hosts, service, db):
    target = parse_redis_url(url)
    assert (target.kind, target.hosts, target.service, target.db) == (kind, hosts, service, db)


@pytest.mark.parametrize(
    "url",
    ["redis+cluster://", "redis+cluster://host", "redis+cluster://h:1/2", "redis+sentinel://h:1"],
)
def test_malformed_cluster_and_sentinel_urls_say_what_is_wrong(url):
    with pytest.raises(ValueError, match="REDIS_URL|Cluster"):
        parse_redis_url(url)


def test_password_in_a_cluster_url_is_passed_on():
    target = parse_redis_url("redis+cluster://user:s%3Acret@h:1")
    assert (target.username, target.password) == ("user", "s:cret")


def test_a_dead_cluster_is_a_connection_error_not_a_hang():
    with pytest.raises(redis.exceptions.RedisClusterException, match="cannot be connected"):
        connect_redis(f"redis+cluster://127.0.0.1:{free_port_run(1)}", socket_connect_timeout=1)


@pytest.fixture
def sentinel_url() -> Iterator[str]:
    """A Valkey primary and one Sentinel watching it as `pulse-main`, on loopback."""
    directory = Path(tempfile.mkdtemp(prefix="pulse-sentinel-"))
    primary, watcher = free_port_run(1), free_port_run(1)
    binary = str(valkey_server_binary())
    pids = []
    try:
        for port, extra, name in (
            (primary, "", "primary.conf"),
            (watcher, f"sentinel monitor pulse-main 127.0.0.1 {primary} 1\n", "sentinel.conf"),
        ):
            conf = directory / name
            # save "": a server whose shutdown save fails (its directory already removed)
            # refuses to exit, and would outlive the run
            conf.write_text(
                f'port {port}\nbind 127.0.0.1\ndaemonize yes\nsave ""\ndir {directory}\n'
                f"pidfile {directory / f'{port}.pid'}\n{extra}"
            )
            args = [binary, str(conf)] + (["--sentinel"] if extra else [])
            subprocess.run(args, check=True, capture_output=True, timeout=30)
            pids.append(directory / f"{port}.pid")
        yield f"redis+sentinel://127.0.0.1:{watcher}/pulse-main"
    finally:
        for pidfile in pids:
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pidfile.read_text()), signal.SIGTERM)
        shutil.rmtree(directory, ignore_errors=True)


def test_a_sentinel_url_reaches_the_primary_it_names(sentinel_url):
    deadline = time.monotonic() + 10
    while True:
        client = connect_redis(sentinel_url, socket_timeout=2)
        try:
            client.set("pulse-test:sentinel", "yes")
            assert client.get("pulse-test:sentinel") == b"yes"
            assert client.info("replication")["role"] == "master"
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:  # the sentinel answers once it has the primary
                raise
            time.sleep(0.1)
        finally:
            client.close()
