"""Influx line protocol into points (data/domain/line_protocol.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data.domain.line_protocol import parse_lines
from data.domain.points import BodyError, Point

NOW_MS = 1_800_000_000_000
OLDEST_MS = NOW_MS - 7 * 86_400_000
NS = NOW_MS * 1_000_000


def parse(text: str, precision: str = "ns"):  # type: ignore[no-untyped-def]
    return parse_lines(text.encode(), precision, NOW_MS, OLDEST_MS)


def test_each_numeric_field_is_a_point_named_measurement_dot_field() -> None:
    """Telegraf's cpu line: host is the source, the other tag is folded into the metric."""
    got = parse(f"cpu,host=web-1,cpu=cpu0 usage_idle=97.5,usage_user=2i {NS}\n")
    assert got.problems == [] and got.skipped == 0
    assert got.points == [
        Point(f"lp:{NS % 1_000_000}", "web-1", "cpu.usage_idle.cpu:cpu0", NOW_MS, 97.5),
        Point(f"lp:{NS % 1_000_000}", "web-1", "cpu.usage_user.cpu:cpu0", NOW_MS, 2.0),
    ]


def test_a_field_named_value_is_the_measurement_and_source_beats_host() -> None:
    got = parse(f"temp,source=sensor-3,room=b,host=h value=21.5 {NS}")
    assert [(p.metric, p.source) for p in got.points] == [("temp.host:h.room:b", "sensor-3")]


def test_tags_fold_sorted_by_key_whatever_their_order_on_the_line() -> None:
    a = parse(f"disk,host=h,path=/var,device=sda1 used=1 {NS}").points
    b = parse(f"disk,device=sda1,path=/var,host=h used=1 {NS}").points
    assert a == b and a[0].metric == "disk.used.device:sda1.path:_var"


def test_integers_unsigned_booleans_and_floats_in_every_spelling() -> None:
    got = parse(f"m,host=h a=-3i,b=7u,c=t,d=FALSE,e=1e3,f=.5,g=-2.,h=True {NS}")
    assert [p.value for p in got.points] == [-3.0, 7.0, 1.0, 0.0, 1000.0, 0.5, -2.0, 1.0]


def test_string_fields_are_skipped_and_counted_not_refused() -> None:
    got = parse(f'system,host=h uptime=42i,uptime_format="0 days,  0:42" {NS}')
    assert got.problems == [] and got.skipped == 1
    assert [p.metric for p in got.points] == ["system.uptime"]


def test_escaped_commas_spaces_and_equals_in_names_and_quotes_in_strings() -> None:
    line = rf'my\ meas\,x,host=h,k\=ey=v\ 1 f\ 1=1,s="a \"q\" b, c=d" {NS}'
    got = parse(line)
    assert got.problems == [] and got.skipped == 1
    assert [p.metric for p in got.points] == ["my_meas_x.f_1.k_ey:v_1"]


@pytest.mark.parametrize(
    ("precision", "stamp"),
    [("ns", NS), ("us", NS // 1000), ("u", NS // 1000), ("ms", NOW_MS), ("s", NOW_MS // 1000)],
)
def test_precision_scales_the_timestamp(precision: str, stamp: int) -> None:
    got = parse(f"m,host=h v=1 {stamp}", precision)
    expected_ms = NOW_MS if precision != "s" else NOW_MS // 1000 * 1000
    assert got.points[0].ts_ms == expected_ms
    ns = stamp * {"ns": 1, "us": 1_000, "u": 1_000, "ms": 10**6, "s": 10**9}[precision]
    assert got.points[0].data_id == f"lp:{ns % 1_000_000}"  # the ns past its millisecond


def test_two_lines_within_one_millisecond_keep_apart_by_their_resend_keys() -> None:
    got = parse(f"m,host=h v=1 {NS + 5}\nm,host=h v=2 {NS + 999_999}")
    assert got.points == [
        Point("lp:5", "h", "m.v", NOW_MS, 1.0),
        Point("lp:999999", "h", "m.v", NOW_MS, 2.0),
    ]


def test_without_a_timestamp_a_point_takes_the_time_received_and_no_resend_key() -> None:
    got = parse("m,host=h v=1")
    assert got.points == [Point("", "h", "m.v", NOW_MS, 1.0)]


def test_comments_blank_lines_crlf_and_leading_spaces_are_read_as_influx_does() -> None:
    got = parse(f"# a comment\r\n\r\n   m,host=h v=1 {NS}\r\n\n")
    assert len(got.points) == 1 and got.problems == []


def test_every_bad_line_is_named_by_its_0_based_line_and_keeps_none_of_its_points() -> None:
    body = "\n".join(
        [
            f"ok,host=h v=1 {NS}",  # 0
            "noshape",  # 1
            f"m v=1 {NS}",  # 2: no source
            f"m,host=h v=abc {NS}",  # 3
            "m,host=h v=1 12x",  # 4
            f"m,host=h v=1 {NS + 3_600_000_000_000}",  # 5: an hour ahead
            f"m,host=h v=1 {(OLDEST_MS - 1) * 1_000_000}",  # 6: before retention
            f'm,host=h a=1,s="open {NS}',  # 7
            f"m,host=h,novalue v=1 {NS}",  # 8
            f"m,host=h good=1,bad=1e999 {NS}",  # 9
        ]
    )
    got = parse(body)
    assert [(p.index, p.field) for p in got.problems] == [
        (1, ""),
        (2, "source"),
        (3, "value"),
        (4, "timestamp"),
        (5, "timestamp"),
        (6, "timestamp"),
        (7, "value"),
        (8, ""),
        (9, "value"),
    ]
    assert got.problems[0].message.startswith("line 2: expected `measurement")
    assert [p.metric for p in got.points] == ["ok.v"]  # the caller refuses it all


def test_a_body_that_is_not_utf8_is_unreadable() -> None:
    with pytest.raises(BodyError):
        parse_lines(b"m,host=h v=1 \xff", "ns", NOW_MS, OLDEST_MS)


def test_nan_and_infinity_are_not_line_protocol_numbers() -> None:
    got = parse(f"m,host=h a=nan,b=inf {NS}")
    assert [p.field for p in got.problems] == ["value"] and got.points == []


def test_a_name_over_128_characters_keeps_its_start_and_a_hash_of_the_whole() -> None:
    """Refusing it would refuse the agent's batch; cutting it alone could merge series."""
    a, b = (parse(f"{'x' * 130},host=h v{n}=1 {NS}").points[0] for n in (1, 2))
    assert len(a.metric) == len(b.metric) == 128 and a.metric != b.metric
    assert a.metric.startswith("x" * 106 + ".hash:")


def test_runs_of_spaces_and_a_trailing_space_are_tolerated() -> None:
    got = parse(f"m,host=h  v=1   {NS} \nm,host=h w=2 ")
    assert [(p.metric, p.ts_ms) for p in got.points] == [("m.v", NOW_MS), ("m.w", NOW_MS)]
    assert got.problems == []


def test_a_repeated_head_is_read_once_but_each_line_keeps_its_own_fields() -> None:
    got = parse(f"cpu,host=a x=1 {NS}\ncpu,host=a y=2,value=3 {NS}\ncpu,host=b x=4 {NS}")
    assert [(p.metric, p.source, p.value) for p in got.points] == [
        ("cpu.x", "a", 1.0),
        ("cpu.y", "a", 2.0),
        ("cpu", "a", 3.0),
        ("cpu.x", "b", 4.0),
    ]


def test_an_empty_field_key_or_value_is_refused() -> None:
    got = parse(f"m,host=h =1 {NS}\nm,host=h a= {NS}\nm,host=h a=1,,b=2 {NS}")
    assert [(p.index, p.field) for p in got.problems] == [(0, ""), (1, ""), (2, "")]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(alphabet=st.sampled_from(list('ab=, "\\\n#1.i-tTe')), max_size=80))
def test_any_text_is_points_or_line_problems_never_a_crash(text: str) -> None:
    got = parse(text)
    assert all(p.message.startswith(f"line {p.index + 1}: ") for p in got.problems)
    assert all(len(p.metric) <= 128 and len(p.source) <= 128 for p in got.points)


NAME = st.text(alphabet="abcxyz._-:0", min_size=1, max_size=6) | st.sampled_from(["", "é"])
TAGS = st.lists(st.tuples(st.sampled_from(["host", "source", "cpu", ""]), NAME), max_size=3)
ONE_FIELD_LINES = st.builds(
    "{}{}{} {}={} {}".format,
    NAME,
    st.sampled_from([",host=h", ",source=s", ""]),
    TAGS.map(lambda tags: "".join(f",{k}={v}" for k, v in tags)),
    NAME,
    st.sampled_from(["1", "-2.5", ".5", "3.", "-2e3", "1e999", "+7", "1i", "nan", "", "1.5"]),
    st.sampled_from([NOW_MS, NOW_MS - 8 * 86_400_000, NOW_MS + 3_600_000, -1]).map(str),
)


@settings(max_examples=400, deadline=None)
@given(ONE_FIELD_LINES)
def test_one_field_lines_read_in_one_match_as_the_general_path_reads_them(line: str) -> None:
    """The one-match path for `head key=value timestamp` (data/domain/line_protocol.py)
    reads a line as the general path does, or leaves it to it."""
    from data.domain.agent_points import Parsed
    from data.domain.line_protocol import LineProblem, _one_field, _parse_line

    def outcome(read: object) -> tuple[list[Point], str | None]:
        out = Parsed()
        try:
            taken = read(line, 1_000_000, NOW_MS, OLDEST_MS, out)  # type: ignore[operator]
        except LineProblem as exc:
            return [], f"{exc.field}: {exc}"
        return (out.points if taken is not False else []), None

    fast, fast_problem = outcome(_one_field)
    general, general_problem = outcome(_parse_line)
    if fast or fast_problem:  # taken, or refused: as the general path does
        assert (fast, fast_problem) == (general, general_problem)
