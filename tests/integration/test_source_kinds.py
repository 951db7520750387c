"""Each source kind polled against a real endpoint, file or database (no mocks)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from app.settings import Settings
from app.worker.sources import demo, file_tail, http_json, prometheus, sql
from app.worker.sources.base import SourceError
from data.domain.errors import Invalid
from data.domain.points import NAME_RE, Point
from data.stores.sources import parse_config
from tests.conftest import free_port, scratch_database
from tests.exporters import NODE_EXPORTER, host_exporter, node_exporter, node_exporter_binary
from tests.sources_support import context, http_server


def roundtrip(state: dict) -> dict:
    """The state as a restarted worker reads it back (JSON in PostgreSQL)."""
    return json.loads(json.dumps(state))


def by_series(points: list[Point]) -> dict[tuple[str, str], float]:
    return {(p.metric, p.source): p.value for p in points}


# -- prometheus ---------------------------------------------------------------------------


def _exporter_kinds() -> list[str]:
    """The prometheus_client host exporter always; the node exporter where it is installed,
    and always where the machine's services are required (CI installs it)."""
    if node_exporter_binary() or os.environ.get("PULSE_REQUIRE_SERVICES"):
        return ["client_python", "node_exporter"]
    return ["client_python"]


@pytest.fixture(scope="module", params=_exporter_kinds())
def exporter(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """A real exporter of cpu, load, memory and a textfile directory the tests write
    counters into, on a free loopback port: (its /metrics URL, the textfile directory)."""
    textfiles = tmp_path_factory.mktemp("textfile")
    if request.param == "client_python":
        with host_exporter(textfiles) as url:
            yield url, textfiles
        return
    binary = node_exporter_binary()
    if binary is None:
        pytest.fail(f"{NODE_EXPORTER} is not installed (apt-get install prometheus-node-exporter)")
    with node_exporter(binary, textfiles, free_port()) as url:
        yield url, textfiles


def write_textfile(directory: Path, value: float) -> None:
    """A counter the node exporter exposes through its textfile collector (atomically)."""
    tmp = directory / "pulse.prom.tmp"
    tmp.write_text(f"# TYPE pulse_test_events_total counter\npulse_test_events_total {value}\n")
    tmp.rename(directory / "pulse.prom")


def test_exporter_gauges_stay_values_and_counters_become_rates(
    exporter: tuple[str, Path],
) -> None:
    url, textfiles = exporter
    config = parse_config(
        "prometheus",
        {
            "url": url,
            "include": [
                "node_cpu_seconds_total",
                "node_load1",
                "node_memory_MemTotal_bytes",
                "pulse_test_*",
            ],
            "exclude": ["node_cpu_guest*"],
            "source_labels": ["cpu"],
        },
    )
    write_textfile(textfiles, 100)
    start = int(time.time() * 1000)
    first = prometheus.poll(config, {}, context("node", start))
    values = by_series(first.points)
    assert values[("node_load1", "node")] >= 0
    assert values[("node_memory_MemTotal_bytes", "node")] > 1024 * 1024
    assert not any(p.metric.endswith("_total") for p in first.points), "no rate on first scrape"
    assert {"at", "counters"} <= set(first.state)

    time.sleep(1.0)
    write_textfile(textfiles, 160)
    now = int(time.time() * 1000)
    second = prometheus.poll(config, roundtrip(first.state), context("node", now))
    rates = {k: v for k, v in by_series(second.points).items() if k[0].endswith("_total")}
    elapsed = (now - start) / 1000
    assert rates[("pulse_test_events_total", "node")] == pytest.approx(60 / elapsed)
    cpus = {source for metric, source in rates if metric == "node_cpu_seconds_total"}
    assert cpus and all(c.isdigit() for c in cpus)  # source = the cpu label
    for cpu in cpus:  # every mode summed per CPU: about one second per second
        assert 0.5 < rates[("node_cpu_seconds_total", cpu)] < 1.5
    for p in second.points:
        assert NAME_RE.fullmatch(p.metric) and NAME_RE.fullmatch(p.source)
        assert p.ts_ms == now


def test_a_counter_reset_gives_no_negative_rate(exporter: tuple[str, Path]) -> None:
    url, textfiles = exporter
    config = parse_config("prometheus", {"url": url, "include": ["pulse_test_*"]})
    t0 = int(time.time() * 1000)
    write_textfile(textfiles, 500)
    state = prometheus.poll(config, {}, context("c", t0)).state
    write_textfile(textfiles, 20)  # the exporting program restarted
    after_reset = prometheus.poll(config, roundtrip(state), context("c", t0 + 10_000))
    assert after_reset.points == []
    write_textfile(textfiles, 50)
    resumed = prometheus.poll(config, after_reset.state, context("c", t0 + 20_000))
    assert by_series(resumed.points) == {("pulse_test_events_total", "c"): 3.0}


def test_too_many_series_fail_the_poll(exporter: tuple[str, Path]) -> None:
    url, _ = exporter
    config = parse_config("prometheus", {"url": url, "max_series": 3})
    with pytest.raises(SourceError, match="max_series"):
        prometheus.poll(config, {}, context())


@pytest.fixture
def pulse_metrics_url(web) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Pulse's own web app (its /metrics) served by a real WSGI server thread."""
    server = make_server("127.0.0.1", 0, web, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/metrics"
    server.shutdown()


def test_pulse_scrapes_its_own_metrics(
    pulse_metrics_url: str,
    web,
    ingest_key: str,  # type: ignore[no-untyped-def]
) -> None:
    config = parse_config(
        "prometheus", {"url": pulse_metrics_url, "include": ["pulse_*"], "prefix": "self."}
    )
    t0 = int(time.time() * 1000)
    first = prometheus.poll(config, {}, context("pulse-web", t0))
    gauges = by_series(first.points)
    assert ("self.pulse_stream_length", "pulse-web") in gauges
    assert not any(p.metric.endswith("_created") for p in first.points)
    now_s = time.time()
    points = [{"source": "s", "metric_type": "m", "timestamp": now_s, "value": i} for i in range(7)]
    resp = web.test_client().post(
        "/api/ingest", json=points, headers={"Authorization": f"Bearer {ingest_key}"}
    )
    assert resp.status_code == 202
    second = prometheus.poll(config, first.state, context("pulse-web", t0 + 2_000))
    rates = by_series(second.points)
    assert rates[("self.pulse_points_accepted_total", "pulse-web")] == pytest.approx(3.5)


@pytest.mark.parametrize(
    "body",
    [b"<html><body>Not Found</body></html>", b'{"metrics": [1, 2]}', b"cpu usage high\n"],
)
def test_garbage_is_not_read_as_metrics(body: bytes) -> None:
    with http_server(lambda path, headers: (200, "text/plain", body)) as base:
        config = parse_config("prometheus", {"url": base + "/metrics"})
        with pytest.raises(SourceError, match="not a Prometheus text exposition"):
            prometheus.poll(config, {}, context())


def test_an_http_error_fails_the_scrape() -> None:
    with http_server(lambda path, headers: (503, "text/plain", b"down")) as base:
        config = parse_config("prometheus", {"url": base + "/metrics"})
        with pytest.raises(SourceError, match="HTTP 503"):
            prometheus.poll(config, {}, context())


# -- http_json ----------------------------------------------------------------------------

STATS = {
    "data": {"items": [{"cpu": 12.5, "host": "a"}, {"cpu": 80, "host": "b"}], "queue": 7},
    "generated": "2020-01-01T00:00:00Z",
}


def stats_server(path: str, headers: dict[str, str]) -> tuple[int, str, bytes]:
    if headers.get("Authorization") != "Bearer s3cret":
        return 401, "application/json", b'{"error": "unauthorized"}'
    doc = dict(STATS, generated=datetime.now(UTC).isoformat())
    return 200, "application/json", orjson.dumps(doc)


def test_http_json_reads_each_configured_path() -> None:
    with http_server(stats_server) as base:
        config = parse_config(
            "http_json",
            {
                "url": base + "/stats",
                "headers": {"Authorization": "Bearer s3cret"},
                "values": [
                    {"path": "data.items.0.cpu", "metric": "cpu.usage", "source": "a"},
                    {"path": "data.items.-1.cpu", "metric": "cpu.usage", "source": "b"},
                    {"path": "data.queue", "metric": "queue.depth"},
                ],
                "timestamp_path": "generated",
            },
        )
        ctx = context("stats-api")
        result = http_json.poll(config, {}, ctx)
        assert by_series(result.points) == {
            ("cpu.usage", "a"): 12.5,
            ("cpu.usage", "b"): 80.0,
            ("queue.depth", "stats-api"): 7.0,
        }
        assert all(abs(p.ts_ms - ctx.now_ms) < 5_000 for p in result.points)
        again = http_json.poll(config, result.state, ctx)
        assert [p.data_id for p in again.points] != [p.data_id for p in result.points]


def test_http_json_without_credentials_or_with_a_missing_path_fails() -> None:
    with http_server(stats_server) as base:
        values = [{"path": "data.items.5.cpu", "metric": "cpu.usage"}]
        config = parse_config(
            "http_json",
            {"url": base, "values": values, "headers": {"Authorization": "Bearer s3cret"}},
        )
        with pytest.raises(SourceError, match="'data.items.5.cpu' is not in the answer"):
            http_json.poll(config, {}, context())
        anonymous = parse_config("http_json", {"url": base, "values": values})
        with pytest.raises(SourceError, match="HTTP 401"):
            http_json.poll(anonymous, {}, context())


def test_http_json_refuses_non_json_and_non_numbers() -> None:
    with http_server(lambda p, h: (200, "text/html", b"<html>oops</html>")) as base:
        config = parse_config("http_json", {"url": base, "values": [{"path": "a", "metric": "m"}]})
        with pytest.raises(SourceError, match="not JSON"):
            http_json.poll(config, {}, context())
    with http_server(lambda p, h: (200, "application/json", b'{"a": "high"}')) as base:
        config = parse_config("http_json", {"url": base, "values": [{"path": "a", "metric": "m"}]})
        with pytest.raises(SourceError, match="value must be a number"):
            http_json.poll(config, {}, context())


# -- sql ----------------------------------------------------------------------------------


@pytest.fixture
def sales_db(settings: Settings) -> Iterator[str]:
    """A private PostgreSQL database with a sales table; dropped afterwards."""
    with scratch_database(settings, "pulse_sales") as url:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "CREATE TABLE sales (ts timestamptz NOT NULL, shop text NOT NULL,"
                    " amount numeric(12, 2) NOT NULL)"
                )
            )
        engine.dispose()
        yield url


def add_sales(url: str, rows: list[tuple[datetime, str, float]]) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO sales VALUES (:ts, :shop, :amount)"),
            [{"ts": ts, "shop": shop, "amount": amount} for ts, shop, amount in rows],
        )
    engine.dispose()


SALES_QUERY = "SELECT ts, 'sales.amount' AS metric, shop, amount FROM sales WHERE ts > :since"


def test_sql_reads_every_row_exactly_once_across_polls_and_restarts(sales_db: str) -> None:
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    first_rows = [(base + timedelta(seconds=i // 2), f"shop-{i % 2}", float(i)) for i in range(7)]
    add_sales(sales_db, first_rows)
    config = parse_config("sql", {"url": sales_db, "query": SALES_QUERY, "max_rows": 3})
    ctx = context("sales")
    seen: list[Point] = []
    state: dict = {}
    for _ in range(6):  # batches of at most 3 rows; ties at a cut wait for the next poll
        result = sql.poll(config, state, ctx)
        seen += result.points
        state = roundtrip(result.state)
    assert sorted((p.source, p.ts_ms, p.value) for p in seen) == sorted(
        (shop, int(ts.timestamp() * 1000), amount) for ts, shop, amount in first_rows
    )
    assert len({p.data_id for p in seen}) == len(seen) == 7

    later = [(base + timedelta(minutes=5, milliseconds=250), "shop-9", 99.5)]
    add_sales(sales_db, later)
    restarted = sql.poll(config, roundtrip(state), ctx)  # as a fresh worker would
    assert [(p.metric, p.source, p.value) for p in restarted.points] == [
        ("sales.amount", "shop-9", 99.5)
    ]
    assert sql.poll(config, restarted.state, ctx).points == []


def test_sql_statement_timeout_is_honoured(sales_db: str) -> None:
    slow = "SELECT ts, 'm', shop, amount FROM sales, pg_sleep(5) WHERE ts > :since"
    config = parse_config("sql", {"url": sales_db, "query": slow})
    add_sales(sales_db, [(datetime.now(UTC), "a", 1.0)])
    started = time.monotonic()
    with pytest.raises(SourceError, match="statement timeout"):
        sql.poll(config, {}, context(timeout_s=0.5))
    assert time.monotonic() - started < 4


def test_sql_skips_bad_rows_but_moves_past_them(sales_db: str) -> None:
    now = datetime.now(UTC)
    add_sales(
        sales_db,
        [
            (now - timedelta(days=30), "old", 1.0),
            (now, "bad name!", 2.0),
            (now + timedelta(seconds=1), "ok", 3.0),
        ],
    )
    config = parse_config("sql", {"url": sales_db, "query": SALES_QUERY})
    result = sql.poll(config, {}, context())
    # older than retention is not even asked for (:since starts at the retention window)
    assert [(p.source, p.value) for p in result.points] == [("ok", 3.0)]
    assert result.skipped == 1
    assert sql.poll(config, result.state, context()).points == []


def test_sql_unreachable_database_fails_saying_only_that_it_could_not_connect() -> None:
    """A closed port and a wrong server look the same: the driver's words would let a
    tenant map the worker's network."""
    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"
    config = parse_config("sql", {"url": url, "query": SALES_QUERY})
    with pytest.raises(SourceError) as failed:
        sql.poll(config, {}, context(timeout_s=2))
    assert str(failed.value) == "query failed: could not connect to the database"


# -- file_tail ----------------------------------------------------------------------------


def csv_config(**extra: object):  # type: ignore[no-untyped-def]
    return parse_config("file_tail", {"path": "feed.csv", "format": "csv", **extra})


def test_file_tail_reads_whole_lines_and_resumes_from_its_offset(tmp_path: Path) -> None:
    now = int(time.time())
    feed = tmp_path / "feed.csv"
    feed.write_bytes(
        b"timestamp,metric,source,value\n"
        + f"{now - 3},orders,shop,1\n{now - 2},orders,shop,2\n{now - 1},ord".encode()
    )
    ctx = context("feed", files_dir=tmp_path)
    first = file_tail.poll(csv_config(), {}, ctx)
    assert [p.value for p in first.points] == [1.0, 2.0]  # not the partial last line
    assert first.state["offset"] == feed.read_bytes().rindex(b"\n") + 1

    with feed.open("ab") as out:
        out.write(f"ers,shop,3\n{now},orders,shop,4\n".encode())
    restarted = file_tail.poll(csv_config(), roundtrip(first.state), ctx)
    assert [(p.metric, p.value) for p in restarted.points] == [("orders", 3.0), ("orders", 4.0)]
    again = file_tail.poll(csv_config(), roundtrip(restarted.state), ctx)
    assert again.points == []
    # a crash before the state was saved: the same lines again carry the same data_ids
    replay = file_tail.poll(csv_config(), roundtrip(first.state), ctx)
    assert [p.data_id for p in replay.points] == [p.data_id for p in restarted.points]


def test_file_tail_starts_over_after_truncation_and_rotation(tmp_path: Path) -> None:
    now = int(time.time())
    feed = tmp_path / "feed.csv"
    header = "timestamp,metric,source,value\n"
    feed.write_text(header + "".join(f"{now - 10 + i},m,s,{i}\n" for i in range(5)))
    ctx = context("feed", files_dir=tmp_path)
    state = file_tail.poll(csv_config(), {}, ctx).state

    feed.write_text(header + f"{now},m,s,100\n")  # truncated in place: smaller than offset
    truncated = file_tail.poll(csv_config(), roundtrip(state), ctx)
    assert [p.value for p in truncated.points] == [100.0]
    assert truncated.state["generation"] == 1

    feed.rename(tmp_path / "feed.csv.1")  # rotated: a new file of the same name
    feed.write_text("value,source,metric,timestamp\n" + f"7,s,m,{now}\n" * 3)
    rotated = file_tail.poll(csv_config(), roundtrip(truncated.state), ctx)
    assert [p.value for p in rotated.points] == [7.0, 7.0, 7.0]
    assert rotated.state["generation"] == 2
    assert len({p.data_id for p in rotated.points + truncated.points}) == 4


def test_file_tail_jsonl_skips_bad_lines(tmp_path: Path) -> None:
    now = time.time()
    lines = [
        {"timestamp": now, "metric": "temp", "source": "dev-1", "value": 21.5},
        "not json",
        {"timestamp": now, "metric_type": "temp", "source": "dev-2", "value": "hot"},
        {"timestamp": now, "metric_type": "temp", "source": "dev-3", "value": 19},
    ]
    text_lines = [line if isinstance(line, str) else json.dumps(line) for line in lines]
    (tmp_path / "dev.jsonl").write_text("\n".join(text_lines) + "\n")
    config = parse_config("file_tail", {"path": "dev.jsonl", "format": "jsonl"})
    result = file_tail.poll(config, {}, context(files_dir=tmp_path))
    assert by_series(result.points) == {("temp", "dev-1"): 21.5, ("temp", "dev-3"): 19.0}
    assert result.skipped == 2 and result.state["skipped"] == 2
    assert "value must be a number" in result.state["last_skipped"]


def test_file_tail_start_at_end_and_confinement(tmp_path: Path) -> None:
    now = int(time.time())
    feed = tmp_path / "feed.csv"
    feed.write_text("timestamp,metric,source,value\n" + f"{now},m,s,1\n")
    ctx = context(files_dir=tmp_path)
    result = file_tail.poll(csv_config(start_at="end"), {}, ctx)
    assert result.points == []
    with feed.open("a") as out:
        out.write(f"{now},m,s,2\n")
    assert [
        p.value for p in file_tail.poll(csv_config(start_at="end"), result.state, ctx).points
    ] == [2.0]
    missing = parse_config("file_tail", {"path": "nope.csv", "format": "csv"})
    with pytest.raises(SourceError, match="does not exist"):
        file_tail.poll(missing, {}, ctx)


@pytest.mark.parametrize("path", ["../other-tenant/feed.csv", "/etc/passwd", "a/../../x.csv"])
def test_file_tail_paths_leaving_the_tenant_folder_are_refused_at_save(path: str) -> None:
    with pytest.raises(Invalid) as refused:
        parse_config("file_tail", {"path": path, "format": "csv"})
    assert [d["field"] for d in refused.value.details] == ["config.path"]


def test_file_tail_symlink_out_of_the_tenant_folder_fails_without_server_paths(
    tmp_path: Path,
) -> None:
    tenant_dir, neighbour = tmp_path / "acme", tmp_path / "demo"
    tenant_dir.mkdir(), neighbour.mkdir()
    (neighbour / "secret.csv").write_text("timestamp,metric,source,value\n")
    (tenant_dir / "feed.csv").symlink_to(neighbour / "secret.csv")
    with pytest.raises(SourceError) as refused:
        file_tail.poll(csv_config(), {}, context(files_dir=tenant_dir))
    assert "outside this tenant's source folder" in str(refused.value)
    assert str(tmp_path) not in str(refused.value)


# -- demo ---------------------------------------------------------------------------------


def test_demo_kind_ticks_and_keeps_its_walks_in_the_state() -> None:
    config = parse_config("demo", {"seed": 3})
    second = (int(time.time()) - 2) * 1000
    first = demo.poll(config, {}, context(now_ms=second + 120))
    assert len(first.points) == 11 and {p.ts_ms for p in first.points} == {second}
    again = demo.poll(config, {}, context(now_ms=second + 870))
    assert [p.data_id for p in again.points] == [p.data_id for p in first.points]
    walked = demo.poll(config, roundtrip(first.state), context(now_ms=second + 1000))
    cpu = {p.source: p.value for p in walked.points if p.metric == "cpu.usage"}
    assert all(abs(cpu[h] - first.state["cpu"][h]) < 20 for h in cpu)
