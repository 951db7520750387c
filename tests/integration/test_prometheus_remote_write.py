"""A real Prometheus (Debian's `prometheus`, CI installs it) scrapes itself and ships its
samples to Pulse with `remote_write`, configured as the README says: they are stored."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from app.services import Services
from tests.conftest import LiveServer, free_port, wait_until

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
CONFIG = """
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: self
    static_configs:
      - targets: ["127.0.0.1:{prom_port}"]
remote_write:
  - url: {pulse}/api/v1/write
    authorization:
      credentials: {key}
    queue_config:
      batch_send_deadline: 1s
    write_relabel_configs:
      - source_labels: [__name__]
        regex: "up|prometheus_build_info|prometheus_tsdb_head_series"
        action: keep
"""


@pytest.fixture
def prometheus(live_server: LiveServer, ingest_key: str, tmp_path: Path) -> Iterator[int]:
    """Prometheus on a free port, scraping itself and writing to the live server."""
    if not shutil.which(PROMETHEUS):
        pytest.fail("prometheus is not installed (apt-get install prometheus)")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(CONFIG.format(prom_port=port, pulse=live_server.url, key=ingest_key))
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()
        if proc.returncode not in (0, -15):
            print((tmp_path / "prometheus.log").read_text()[-5000:])


def series(services: Services, tenant: str) -> set[tuple[str, str]]:
    with services.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT DISTINCT metric_type, source FROM points WHERE tenant_id = :t"),
            {"t": tenant},
        )
        return {(row[0], row[1]) for row in rows}


def test_prometheus_remote_write_lands_in_pulse(
    prometheus: int, services: Services, tenant: str, tmp_path: Path
) -> None:
    instance = f"127.0.0.1:{prometheus}"
    wanted = {("up.job:self", instance), ("prometheus_tsdb_head_series.job:self", instance)}
    try:
        wait_until(lambda: wanted <= series(services, tenant), timeout=90)
    except TimeoutError:
        print((tmp_path / "prometheus.log").read_text()[-5000:])
        raise
    with services.engine.connect() as conn:
        ups = conn.execute(
            text("SELECT value FROM points WHERE tenant_id = :t AND metric_type = 'up.job:self'"),
            {"t": tenant},
        ).scalars()
        assert set(ups) == {1.0}  # it is up, and the stale markers were skipped
