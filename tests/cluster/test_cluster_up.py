"""The pieces of `make cluster-up` (app/cluster/) the chaos test does not reach on its own:
nginx's config for 2 or 1 processes of a kind, the private record of what was started, the
Redis Cluster mode's servers, and cluster-down with nothing up. The whole cluster, killed
one of each, is tests/cluster/test_chaos.py."""

from __future__ import annotations

import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cluster import loopback, servers
from app.cluster.layout import ClusterState, Layout, free_port_run
from app.embedded.processes import live_process


@pytest.fixture
def root() -> Iterator[Path]:
    # not under pytest's basetemp, which a later pytest session makes 0700 again
    directory = Path(tempfile.mkdtemp(prefix="pulse-cluster-up-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize("roles", [2, 1])
def test_nginx_names_each_role_process_and_its_config_is_valid(root: Path, roles: int) -> None:
    if not Path("/usr/sbin/nginx").exists():
        pytest.skip("nginx is not installed (make system-packages)")
    layout = Layout.on_free_ports(root, "single")
    web, stream = list(layout.web_ports[:roles]), list(layout.stream_ports[:roles])
    text = servers.render_nginx(layout, web, stream)
    assert "@" not in text.replace("$http_x_request_id", "")
    assert f"listen 127.0.0.1:{layout.nginx_port};" in text
    for port in web + stream:
        assert f"server 127.0.0.1:{port} " in text
    assert "client_body_buffer_size 16m;" in text  # nginx's workers never write under root
    prefix = servers.nginx_dir(layout)
    for sub in ("logs", "tmp"):
        (prefix / sub).mkdir(parents=True)
    (prefix / "nginx.conf").write_text(text)
    args = [servers.nginx_binary(), "-p", f"{prefix}/", "-c", "nginx.conf", "-e", "logs/error.log"]
    done = subprocess.run([*args, "-t"], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr


def test_the_record_of_what_started_is_private_and_reads_back(root: Path) -> None:
    state = ClusterState("http://127.0.0.1:18080", "single", secret_key="s3cret")
    state.processes.append(servers.started("web-1", 1, 18081))
    state.save(root / "cluster.json")
    assert stat.S_IMODE((root / "cluster.json").stat().st_mode) == 0o600
    again = ClusterState.load(root / "cluster.json")
    assert again == state and again.named("web")[0].port == 18081
    assert ClusterState.load(root / "missing.json") is None


def test_cluster_mode_starts_a_redis_cluster_and_stops_it(root: Path) -> None:
    layout = Layout(root, "cluster", redis_base_port=free_port_run(6))
    url, records = servers.start_redis(layout)
    try:
        assert url.startswith("redis+cluster://127.0.0.1:")
        assert len(records) == 6 and len(servers.redis_cluster(layout).primaries()) == 3
    finally:
        servers.stop_redis(layout, records, layout.redis_base_port)
    assert all(live_process(record.pid) is None for record in records)


def test_cluster_down_with_nothing_up_says_so(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loopback.down(Layout(root / "nothing", "single"))
    assert "no cluster in" in capsys.readouterr().out


def test_a_cluster_up_that_fails_stops_what_it_had_started(root: Path) -> None:
    """web-1's port is taken: cluster-up names web-1 and its log, and leaves nothing running
    (the log stays for reading; cluster-down removes it)."""
    layout = Layout.on_free_ports(root / "cluster", "single")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", layout.web_ports[0]))
        taken.listen()
        with pytest.raises(RuntimeError, match="web-1"):
            loopback.up(layout, say=False)
    state = ClusterState.load(layout.state_file)
    assert state is not None and len(state.processes) >= 6  # postgres, replica, redis, roles
    assert all(servers.ours(record) is None for record in state.processes)
    assert (layout.logs / "web-1.log").exists()
    loopback.down(layout, say=False)
    assert not layout.root.exists()


def test_app_py_runs_cluster_down(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`python app.py cluster-up|cluster-down` is what the Makefile runs (no role starts)."""
    from app.cli import main

    assert main(["cluster-down", "--dir", str(root / "nothing")]) == 0
    assert "no cluster in" in capsys.readouterr().out
