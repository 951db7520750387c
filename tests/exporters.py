"""Real Prometheus exposition endpoints for the prometheus source's tests.

Two kinds, polled by the same tests: Debian's `prometheus-node-exporter` (CI installs it), and
a host exporter written with `prometheus_client` that exposes the same families from the same
kernel figures (psutil) plus a textfile directory. The second needs nothing installed, so a
fresh clone runs every Prometheus test; the first keeps the format of a real exporter in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import requests
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

NODE_EXPORTER = os.environ.get("NODE_EXPORTER", "/usr/bin/prometheus-node-exporter")
_GUEST_MODES = {"guest": "user", "guest_nice": "nice"}


def node_exporter_binary() -> str | None:
    """The node exporter's path, or None where it is not installed."""
    return shutil.which(NODE_EXPORTER) or (
        NODE_EXPORTER if os.access(NODE_EXPORTER, os.X_OK) else None
    )


class HostCollector(Collector):
    """node_exporter's cpu, loadavg, meminfo and textfile collectors, in a few lines each."""

    def __init__(self, textfiles: Path) -> None:
        self.textfiles = textfiles

    def collect(self) -> Iterable[Metric]:
        cpu = CounterMetricFamily(
            "node_cpu_seconds", "Seconds the CPUs spent in each mode.", labels=["cpu", "mode"]
        )
        guest = CounterMetricFamily(
            "node_cpu_guest_seconds", "Seconds spent running guests.", labels=["cpu", "mode"]
        )
        for index, times in enumerate(psutil.cpu_times(percpu=True)):
            for mode, seconds in times._asdict().items():
                if mode in _GUEST_MODES:  # the kernel counts guest time in user/nice too
                    guest.add_metric([str(index), _GUEST_MODES[mode]], seconds)
                else:
                    cpu.add_metric([str(index), mode], seconds)
        yield cpu
        yield guest
        yield GaugeMetricFamily("node_load1", "1m load average.", value=os.getloadavg()[0])
        yield GaugeMetricFamily(
            "node_memory_MemTotal_bytes", "Memory in bytes.", value=psutil.virtual_memory().total
        )
        for path in sorted(self.textfiles.glob("*.prom")):
            yield from text_string_to_metric_families(path.read_text())


@contextmanager
def host_exporter(textfiles: Path) -> Iterator[str]:
    """The prometheus_client host exporter on a free loopback port; yields its /metrics URL."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HostCollector(textfiles))
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield f"http://127.0.0.1:{server.server_port}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def node_exporter(binary: str, textfiles: Path, port: int) -> Iterator[str]:
    """Debian's node exporter on `port` with the same collectors; yields its /metrics URL."""
    process = subprocess.Popen(
        [
            binary,
            f"--web.listen-address=127.0.0.1:{port}",
            "--collector.disable-defaults",
            "--collector.cpu",
            "--collector.loadavg",
            "--collector.meminfo",
            "--collector.textfile",
            f"--collector.textfile.directory={textfiles}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        _wait_until_served(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _wait_until_served(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while True:
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.ConnectionError:
            pass
        assert process.poll() is None, "the node exporter exited"
        assert time.monotonic() < deadline, "the node exporter did not come up"
        time.sleep(0.1)
