"""Prometheus remote write into points (data/domain/remote_write.py)."""

from __future__ import annotations

import struct

import cramjam
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data.domain import remote_write
from data.domain.points import BodyError, Point

NOW_MS = 1_800_000_000_000
OLDEST_MS = NOW_MS - 7 * 86_400_000
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]  # Prometheus' marker


def points(series):  # type: ignore[no-untyped-def]
    request = remote_write.decode(remote_write.encode(series))
    return remote_write.to_points(request, NOW_MS, OLDEST_MS)


def test_name_is_the_metric_instance_the_source_other_labels_fold_in_job_too() -> None:
    labels = {"__name__": "node_cpu_seconds_total", "instance": "db:9100", "job": "node"}
    got = points([({**labels, "mode": "idle", "cpu": "0"}, [(12.5, NOW_MS - 1000)])])
    assert got.problems == [] and got.skipped == 0
    assert got.points == [
        Point(
            "rw",
            "db:9100",
            "node_cpu_seconds_total.cpu:0.job:node.mode:idle",
            NOW_MS - 1000,
            12.5,
        )
    ]


def test_source_label_beats_instance_and_job_stands_in_without_instance() -> None:
    got = points(
        [
            ({"__name__": "a", "source": "s", "instance": "i:1"}, [(1.0, NOW_MS)]),
            ({"__name__": "b", "job": "batch"}, [(2.0, NOW_MS)]),
        ]
    )
    assert [(p.metric, p.source) for p in got.points] == [("a.instance:i:1", "s"), ("b", "batch")]


def test_nan_stale_markers_and_infinities_are_skipped_and_counted() -> None:
    samples = [(1.0, NOW_MS - 2), (STALE_NAN, NOW_MS - 1), (float("inf"), NOW_MS), (2.0, NOW_MS)]
    got = points([({"__name__": "up", "instance": "x"}, samples)])
    assert [p.value for p in got.points] == [1.0, 2.0] and got.skipped == 2


def test_each_bad_series_is_named_by_its_index_and_keeps_none_of_its_samples() -> None:
    got = points(
        [
            ({"__name__": "ok", "instance": "x"}, [(1.0, NOW_MS)]),
            ({"instance": "x"}, [(1.0, NOW_MS)]),  # no name
            ({"__name__": "orphan"}, [(1.0, NOW_MS)]),  # no source
            ({"__name__": "late", "instance": "x"}, [(1.0, NOW_MS), (1.0, OLDEST_MS - 1)]),
        ]
    )
    assert [(p.index, p.field) for p in got.problems] == [
        (1, "metric_type"),
        (2, "source"),
        (3, "timestamp"),
    ]
    assert [p.metric for p in got.points] == ["ok"]


def test_characters_a_pulse_name_may_not_hold_become_underscores() -> None:
    labels = {"__name__": "http_requests_total", "instance": "h", "path": "/api/v1 x"}
    got = points([(labels, [(1.0, NOW_MS)])])
    assert got.points[0].metric == "http_requests_total.path:_api_v1_x"


def test_a_body_that_is_not_snappy_or_not_a_write_request_is_unreadable() -> None:
    with pytest.raises(BodyError):
        remote_write.decode(b"\x05not snappy")
    with pytest.raises(BodyError):
        remote_write.decode(bytes(cramjam.snappy.compress_raw(b"\xff\xff\xff garbage")))
    with pytest.raises(BodyError):
        remote_write.decode(b"\xff\xff\xff\xff\xff\xff")


def test_a_body_declaring_a_huge_unpacked_size_is_refused_before_unpacking() -> None:
    declared = remote_write.MAX_DECODED_BYTES + 1
    varint = bytearray()
    while declared >= 0x80:
        varint.append(declared & 0x7F | 0x80)
        declared >>= 7
    varint.append(declared)
    with pytest.raises(remote_write.DecodedTooLarge):
        remote_write.decode(bytes(varint) + b"\x00" * 10)


def test_sample_count_counts_every_sample_skipped_or_not() -> None:
    request = remote_write.decode(
        remote_write.encode([({"__name__": "a"}, [(1.0, 1), (STALE_NAN, 2)]), ({}, [(1.0, 3)])])
    )
    assert remote_write.sample_count(request) == 3


def test_info_metrics_with_long_label_sets_are_kept_under_a_hashed_name() -> None:
    labels = {"__name__": "prometheus_build_info", "instance": "x", "revision": "f" * 100}
    got = points([({**labels, "version": v}, [(1.0, NOW_MS)]) for v in ("2.42.0", "2.43.0")])
    assert got.problems == []
    names = [p.metric for p in got.points]
    assert all(len(n) == 128 and ".hash:" in n for n in names) and names[0] != names[1]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(max_size=200))
def test_any_bytes_are_a_request_or_unreadable_never_a_crash(body: bytes) -> None:
    try:
        request = remote_write.decode(body)
    except (BodyError, remote_write.DecodedTooLarge):
        return
    remote_write.to_points(request, NOW_MS, OLDEST_MS)
