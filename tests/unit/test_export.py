"""The pieces of file exports that need no services: CSV-injection neutralising, sheet
names, time zones and file names."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from data.domain.data_query import HOUR_MS, DataQuery, QueryError
from data.views.export import filename, neutralise, resolve_zone
from data.views.export_xlsx import sheet_name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('=HYPERLINK("http://x","click")', '\'=HYPERLINK("http://x","click")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("\x00x", "'\x00x"),
        ("\x1fx", "'\x1fx"),
        ("\x7fx", "'\x7fx"),
        ("cpu.usage", "cpu.usage"),
        ("a=b", "a=b"),  # only the first character can start a formula
        ("", ""),
        ("2026-11-28T10:00:00+01:00", "2026-11-28T10:00:00+01:00"),
    ],
)
def test_text_that_a_spreadsheet_would_run_is_neutralised(text: str, expected: str) -> None:
    assert neutralise(text) == expected


def test_sheet_names_are_valid_short_and_unique() -> None:
    taken = {"query"}
    first = sheet_name("a:b[c]*?/\\", "web-1", taken)
    assert first == "a_b_c_____ | web-1"
    long = "m" * 60
    names = [sheet_name(long, "web-1", taken) for _ in range(12)]
    assert all(len(name) <= 31 for name in names)
    assert len({name.lower() for name in names}) == 12
    assert names[0] == "m" * 31 and names[1] == "m" * 29 + "~2" and names[11].endswith("~12")
    # Excel compares sheet names without case
    assert sheet_name("CPU", "X", taken) == "CPU | X"
    assert sheet_name("cpu", "x", taken) == "cpu | x~2"
    assert "query" not in {sheet_name("query", "", set()).lower()}
    assert sheet_name("'quoted'", "s'", set()) == "quoted' | s"


def test_the_zone_is_the_parameter_else_the_preference_else_utc() -> None:
    assert resolve_zone("Europe/Paris", {"timezone": "Asia/Tokyo"}).key == "Europe/Paris"
    assert resolve_zone(None, {"timezone": "Asia/Tokyo"}).key == "Asia/Tokyo"
    assert resolve_zone(None, {}).key == "UTC"
    assert resolve_zone(None, None).key == "UTC"
    assert resolve_zone(None, {"timezone": "Not/AZone"}).key == "UTC"  # stale preference
    assert resolve_zone(None, {"timezone": 3}).key == "UTC"


@pytest.mark.parametrize(
    "bad", ["Mars/Olympus", "", "../../etc/passwd", "/etc/localtime", "Europe", "=HYPERLINK(1)"]
)
def test_an_unknown_zone_is_refused(bad: str) -> None:
    with pytest.raises(QueryError) as caught:
        resolve_zone(bad, None)
    assert caught.value.details[0]["field"] == "tz"


def test_the_file_name_says_what_and_when_in_local_time() -> None:
    start = 1_764_288_000_000  # 2025-11-28T00:00Z
    query = DataQuery(("cpu:usage",), (), start, start + 24 * HOUR_MS, HOUR_MS, "avg")
    paris = ZoneInfo("Europe/Paris")
    assert filename(query, paris, "csv") == "pulse_cpu_usage_20251128T0100_20251129T0100.csv"
    two = DataQuery(("a", "b"), (), start, start + HOUR_MS, HOUR_MS, "avg")
    utc = ZoneInfo("UTC")
    assert filename(two, utc, "xlsx") == "pulse_2-metrics_20251128T0000_20251128T0100.xlsx"
