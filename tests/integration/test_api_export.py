"""GET /api/export (CONTRACT §3): the CSV and the workbook read back equal /api/data's
answer for the same query, times named in the caller's zone, every text cell neutralised,
numbers as numbers, Excel's row limit refused before anything is sent, CSV streamed in
chunks, analysts/admins/read keys only, and nothing crosses tenants."""

from __future__ import annotations

import csv
import inspect
import io
import time
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import update

from app.services import Services
from data.domain.data_query import parse_query
from data.domain.points import Point
from data.stores.profiles import Profiles
from data.stores.schema import users
from data.views import export, export_xlsx
from tests.conftest import signed_in

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
# Two days back (inside raw retention), minute-aligned but not hour-aligned.
BASE_MS = (int(time.time() * 1000) - 2 * DAY_MS) // HOUR_MS * HOUR_MS + 17 * MINUTE_MS
SERIES = [("cpu.usage", "web-1"), ("cpu.usage", "web-2"), ("mem.used", "web-1")]
FORMULA_STARTS = ("=", "+", "-", "@")


def write(services: Services, tenant: str, rows: list[tuple[str, str, int, float]]) -> None:
    services.history.write_points(
        [(tenant, Point(uuid.uuid4().hex, src, metric, ts, v)) for metric, src, ts, v in rows]
    )


def sample_rows() -> list[tuple[str, str, int, float]]:
    """Three series over three hours, a point every 50 s with varied values."""
    return [
        (metric, source, BASE_MS + i * 50_000 + k * 7_000, (i * 37 % 101) / 4 - k * 3.5)
        for k, (metric, source) in enumerate(SERIES)
        for i in range(3 * HOUR_MS // 50_000)
    ]


def read_key(services: Services, tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {services.accounts.create_api_key(tenant, 'r', 'read')}"}


def query_params(**extra: Any) -> dict[str, Any]:
    params = {
        "metric": ["cpu.usage", "mem.used"],
        "start": f"{BASE_MS / 1000:.3f}",
        "end": f"{(BASE_MS + 3 * HOUR_MS) / 1000:.3f}",
        "step": "10m",
    }
    return {**params, **extra}


def data_answer(client: Any, headers: dict[str, str], params: dict[str, Any]) -> dict[Any, Any]:
    """/api/data's answer as {(metric, source): [[ts_ms, value], ...]}."""
    data_params = {k: v for k, v in params.items() if k not in ("format", "tz")}
    resp = client.get("/api/data", query_string=data_params, headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return {(s["metric"], s["source"]): s["points"] for s in resp.get_json()["series"]}


def get_export(client: Any, headers: dict[str, str], params: dict[str, Any]) -> Any:
    resp = client.get("/api/export", query_string=params, headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp


def read_csv(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))


def csv_series(rows: list[dict[str, str]]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for row in rows:
        value: float | int = float(row["value"]) if row["agg"] != "count" else int(row["value"])
        ts_ms = int(datetime.fromisoformat(row["time"]).timestamp() * 1000)
        out.setdefault((row["metric"], row["source"]), []).append([ts_ms, value])
    return out


# -- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("agg", ["avg", "count", "last"])
def test_the_csv_read_back_equals_api_data(web, services: Services, tenant: str, agg) -> None:
    write(services, tenant, sample_rows())
    client, key = web.test_client(), read_key(services, tenant)
    params = query_params(agg=agg, tz="Europe/Paris")
    want = data_answer(client, key, params)
    assert len(want) == 3 and all(len(points) == 19 for points in want.values())

    resp = get_export(client, key, params)
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="pulse_2-metrics_')
    assert disposition.endswith('.csv"')
    body = resp.get_data()
    assert body.splitlines()[0] == b"time,time_zone,metric,source,agg,step,value"
    rows = read_csv(body)
    assert csv_series(rows) == want  # same buckets, same values, to the last bit
    paris = ZoneInfo("Europe/Paris")
    for row in rows:
        assert row["time_zone"] == "Europe/Paris" and row["agg"] == agg and row["step"] == "10m"
        stamp = datetime.fromisoformat(row["time"])
        assert stamp.utcoffset() == stamp.astimezone(paris).utcoffset()  # Paris's offset
    if agg == "count":
        assert all(row["value"].isdigit() for row in rows)  # integers, as /api/data gives


def test_the_workbook_read_back_equals_api_data(web, services: Services, tenant: str) -> None:
    write(services, tenant, sample_rows())
    client, key = web.test_client(), read_key(services, tenant)
    params = query_params(agg="max", tz="America/New_York", format="xlsx")
    want = data_answer(client, key, params)

    resp = get_export(client, key, params)
    assert resp.headers["Content-Type"] == export.MIMETYPES["xlsx"]
    assert resp.headers["Content-Disposition"].endswith('.xlsx"')
    book = openpyxl.load_workbook(io.BytesIO(resp.get_data()))
    zone = ZoneInfo("America/New_York")
    assert book.sheetnames == [
        "query",
        "cpu.usage | web-1",
        "cpu.usage | web-2",
        "mem.used | web-1",
    ]

    facts = {row[0].value: row[1] for row in book["query"].iter_rows(max_row=10)}
    assert facts["metrics"].value == "cpu.usage, mem.used"
    assert facts["sources"].value == "all"
    assert facts["step"].value == "10m" and facts["agg"].value == "max"
    assert facts["time zone"].value == "America/New_York"
    assert facts["series"].value == 3 and facts["rows"].value == 57
    assert facts["start"].is_date
    start = facts["start"].value.replace(tzinfo=zone)
    assert int(start.timestamp() * 1000) == BASE_MS - BASE_MS % (10 * MINUTE_MS)
    listing = [[c.value for c in row] for row in book["query"].iter_rows(min_row=13)]
    assert [row[:4] for row in listing] == [
        ["cpu.usage | web-1", "cpu.usage", "web-1", 19],
        ["cpu.usage | web-2", "cpu.usage", "web-2", 19],
        ["mem.used | web-1", "mem.used", "web-1", 19],
    ]

    got: dict[Any, Any] = {}
    for name, metric, source, _, _, _ in listing:
        sheet = book[name]
        header = [c.value for c in next(sheet.iter_rows(max_row=1))]
        assert header == ["time (America/New_York)", "value", "time (ISO 8601)"]
        for when, value, iso in sheet.iter_rows(min_row=2):
            assert when.is_date and value.data_type == "n" and iso.data_type == "s"
            ts_ms = int(when.value.replace(tzinfo=zone).timestamp() * 1000)
            assert int(datetime.fromisoformat(iso.value).timestamp() * 1000) == ts_ms
            got.setdefault((metric, source), []).append([ts_ms, value.value])
    assert got == want


def test_the_user_preference_names_the_zone_else_utc(
    web, services: Services, tenant: str, make_user
) -> None:
    write(services, tenant, sample_rows()[:20])
    analyst = make_user(tenant, "analyst")
    with services.engine.begin() as conn:
        conn.execute(
            update(users)
            .where(users.c.user_id == analyst.user_id)
            .values(preferences={"timezone": "Asia/Kolkata"})
        )
    client = signed_in(web, analyst)
    params = query_params(metric="cpu.usage")
    rows = read_csv(get_export(client, {}, params).get_data())
    assert rows and all(row["time_zone"] == "Asia/Kolkata" for row in rows)
    assert rows[0]["time"].endswith("+05:30")
    rows = read_csv(get_export(client, {}, {**params, "tz": "UTC"}).get_data())
    assert rows[0]["time_zone"] == "UTC" and rows[0]["time"].endswith("+00:00")
    # a key has no preference of its own: the organisation's (none here), else UTC
    rows = read_csv(get_export(client, read_key(services, tenant), params).get_data())
    assert rows[0]["time_zone"] == "UTC"


def test_bad_parameters_are_one_422_naming_each(web, services: Services, tenant: str) -> None:
    client, key = web.test_client(), read_key(services, tenant)
    resp = client.get(
        "/api/export",
        query_string={
            "metric": "m",
            "tz": '=HYPERLINK("http://x")',
            "format": "pdf",
            "agg": "median",
        },
        headers=key,
    )
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert error["code"] == "invalid_query"
    assert {d["field"] for d in error["details"]} == {"tz", "format", "agg"}
    assert client.get("/api/export", headers=key).status_code == 422  # no metric


# -- CSV injection -------------------------------------------------------------------------


def test_every_text_cell_is_neutralised_and_numbers_stay_numbers(
    web, services: Services, tenant: str
) -> None:
    """Names may start with `-` (a formula to a spreadsheet): they arrive as text, in every
    place a name is written, and negative numbers stay numbers."""
    rows = [("-1", "-cmd", BASE_MS + i * MINUTE_MS, -5.0 - i) for i in range(30)]
    rows += [("ok", "-2", BASE_MS + i * MINUTE_MS, -1.5) for i in range(30)]
    write(services, tenant, rows)
    client, key = web.test_client(), read_key(services, tenant)
    params = query_params(metric=["-1", "ok"], source=["-cmd", "-2"], step="5m")

    body = get_export(client, key, params).get_data()
    for line in csv.reader(io.StringIO(body.decode(), newline="")):
        *texts, value = line
        assert all(not t.startswith(FORMULA_STARTS) for t in texts), line
        if value != "value":
            assert float(value) < 0 and not value.startswith("'")  # a number, unprefixed
    parsed = read_csv(body)
    assert {(r["metric"], r["source"]) for r in parsed} == {("'-1", "'-cmd"), ("ok", "'-2")}

    book = openpyxl.load_workbook(
        io.BytesIO(get_export(client, key, {**params, "format": "xlsx"}).get_data())
    )
    texts = numbers = 0
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    texts += 1
                    assert cell.data_type == "s"
                    assert not cell.value.startswith(FORMULA_STARTS), (sheet.title, cell.value)
                    assert ord(cell.value[0]) >= 0x20
                elif isinstance(cell.value, float | int) and not cell.is_date:
                    numbers += 1
    assert numbers >= 12 and texts > 20
    listing = {row[0].value: (row[1].value, row[2].value) for row in book["query"].iter_rows()}
    assert listing["metrics"] == ("'-1, ok", None)
    assert listing["sources"] == ("'-2, -cmd", None)  # joined text starts with a name's "-"
    assert ("'-1", "'-cmd") in listing.values() and ("ok", "'-2") in listing.values()
    values = [c.value for c in book.worksheets[1]["B"][1:]]
    assert values and all(isinstance(v, float | int) and v < 0 for v in values)


# -- size ----------------------------------------------------------------------------------


def test_past_excels_row_limit_a_clear_422_before_anything(
    web, services: Services, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(services, tenant, sample_rows())
    monkeypatch.setattr(export_xlsx, "XLSX_MAX_ROWS", 11)  # 10 rows below the header
    client, key = web.test_client(), read_key(services, tenant)
    params = query_params(format="xlsx", source="web-1")  # 19 rows per series
    resp = client.get("/api/export", query_string=params, headers=key)
    assert resp.status_code == 422
    assert resp.mimetype == "application/json" and "Content-Disposition" not in resp.headers
    error = resp.get_json()["error"]
    assert error["code"] == "too_many_rows"
    assert "19 rows" in error["details"][0]["message"]
    assert "format=csv" in error["message"] and "a step of 30m or more" in error["message"]
    assert [(d["metric"], d["source"], d["rows"]) for d in error["details"]] == [
        ("cpu.usage", "web-1", "19"),
        ("mem.used", "web-1", "19"),
    ]
    # the coarser step it names fits; CSV has no such limit
    assert get_export(client, key, {**params, "step": "30m"}).status_code == 200
    rows = read_csv(get_export(client, key, {**params, "format": "csv"}).get_data())
    assert len(rows) == 38
    # exactly at the limit fits
    assert get_export(client, key, {**params, "step": "20m"}).status_code == 200


def test_a_large_csv_streams_in_chunks(web, services: Services, tenant: str) -> None:
    """Three series of 4,000 one-second buckets: past /api/data's 10,000-bucket cap for an
    explicit step? No (4,000), but 12,000 rows: sent as several chunks, read batch by batch
    from a server-side cursor, never as one body."""
    start = BASE_MS
    rows = [(m, s, start + i * 1_000, float(i)) for m, s in SERIES for i in range(4_000)]
    write(services, tenant, rows)
    query = parse_query(
        {
            "metric": ["cpu.usage", "mem.used"],
            "start": [str(start / 1000)],
            "end": [str(start / 1000 + 4_000)],
            "step": ["1s"],
        },
        start,
    )
    chunks = export.export_csv(services.engine, tenant, query, ZoneInfo("UTC"))
    assert inspect.isgenerator(chunks)  # nothing is read until the response is sent

    client, key = web.test_client(), read_key(services, tenant)
    params = {
        "metric": ["cpu.usage", "mem.used"],
        "start": str(start / 1000),
        "end": str(start / 1000 + 4_000),
        "step": "1s",
    }
    resp = client.get("/api/export", query_string=params, headers=key)
    assert resp.status_code == 200 and resp.is_streamed
    parts = list(resp.response)
    assert len(parts) >= 3  # one per batch of BATCH_ROWS rows (and the header's)
    assert max(len(p) for p in parts) < sum(len(p) for p in parts) / 2
    assert len(read_csv(b"".join(parts))) == 12_000


def test_an_explicit_step_past_api_datas_cap_still_exports(
    web, services: Services, tenant: str
) -> None:
    write(services, tenant, [("cpu.usage", "web-1", BASE_MS + 5_000, 1.0)])
    client, key = web.test_client(), read_key(services, tenant)
    params = {"metric": "cpu.usage", "start": "now-3d", "end": "now", "step": "10s"}
    assert client.get("/api/data", query_string=params, headers=key).status_code == 422
    rows = read_csv(get_export(client, key, params).get_data())
    assert [r["value"] for r in rows] == ["1.0"]


# -- who may, and whose data ---------------------------------------------------------------


def test_analysts_admins_and_read_keys_only(
    web, services: Services, tenant: str, make_user
) -> None:
    client = web.test_client()
    assert client.get("/api/export?metric=m").status_code == 401
    ingest = {"Authorization": f"Bearer {services.accounts.create_api_key(tenant, 'i', 'ingest')}"}
    assert client.get("/api/export?metric=m", headers=ingest).status_code == 403
    assert client.get("/api/export?metric=m", headers=read_key(services, tenant)).status_code == 200
    viewer = signed_in(web, make_user(tenant, "viewer"))
    resp = viewer.get("/api/export?metric=m")
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden"
    for role in ("analyst", "admin"):
        for fmt in ("csv", "xlsx"):
            resp = signed_in(web, make_user(tenant, role)).get(f"/api/export?metric=m&format={fmt}")
            assert resp.status_code == 200, (role, fmt)


def test_another_tenants_metric_exports_nothing(web, services: Services, tenant: str) -> None:
    other = f"t-{uuid.uuid4().hex[:12]}"
    with services.engine.begin() as conn:
        services.accounts.ensure_tenant(conn, other)
    write(services, other, sample_rows())
    client, key = web.test_client(), read_key(services, tenant)
    params = query_params()
    body = get_export(client, key, params).get_data()
    assert body == b"time,time_zone,metric,source,agg,step,value\r\n"
    book = openpyxl.load_workbook(
        io.BytesIO(get_export(client, key, {**params, "format": "xlsx"}).get_data())
    )
    assert book.sheetnames == ["query"]
    facts = {row[0].value: row[1].value for row in book["query"].iter_rows(max_row=10)}
    assert facts["series"] == 0 and facts["rows"] == 0
    # the owner does get it
    own = get_export(client, read_key(services, other), params).get_data()
    assert len(read_csv(own)) == 57


def test_the_organisation_default_zone_applies_under_the_users_own(
    web, services: Services, tenant: str, make_user
) -> None:
    write(services, tenant, sample_rows()[:20])
    Profiles(services.engine).save_tenant_preferences(tenant, None, {"timezone": "Asia/Tokyo"})
    client = signed_in(web, make_user(tenant, "analyst"))
    params = query_params(metric="cpu.usage")
    rows = read_csv(get_export(client, {}, params).get_data())
    assert rows[0]["time_zone"] == "Asia/Tokyo" and rows[0]["time"].endswith("+09:00")
    rows = read_csv(get_export(client, read_key(services, tenant), params).get_data())
    assert rows[0]["time_zone"] == "Asia/Tokyo"  # a key reads in the organisation's zone
