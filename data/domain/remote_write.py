"""Prometheus remote write (1.0) into Pulse points: pure, no I/O, one problem per bad series.

The body is a snappy-compressed (block format) protobuf `prometheus.WriteRequest`, as
Prometheus, Grafana Alloy and Vector send it:

- each sample is a point: metric the `__name__` label, source the label `source`, else
  `instance` (the scraped target, like Telegraf's `host`), else `host` (Vector's), else
  `job`; every other label is folded into the metric (data/domain/agent_points.py), `job`
  included, since one instance scraped by two jobs (blackbox probes) holds two series of
  one name;
- NaN (Prometheus' staleness markers are NaNs) and ±Inf cannot be stored: skipped, counted;
  so are native histograms, which this first version does not take;
- the `data_id` is `rw`: a sample is its series and its ms, which the row stores, so a
  retried request stores nothing twice. A problem's `index` is the series' index in the request.

The message classes are built from a descriptor at import, with the protobuf runtime: no
generated code and no protoc. Only the fields Pulse reads are declared; the others
(exemplars, metadata) are skipped by the parser as unknown fields.
"""

from __future__ import annotations

import math
from typing import Any

import cramjam
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from data.domain.agent_points import Parsed, bounded, clean, folded, pick_source
from data.domain.points import MAX_BODY_BYTES, BodyError, Point, Problem, window_problem

SOURCE_LABELS = ("source", "instance", "host", "job")  # Vector tags host metrics `host`
MAX_DECODED_BYTES = 8 * MAX_BODY_BYTES  # a 5 MiB snappy body may unpack to this, no more
# A sample is its series and its ms: the key marks it as a remote-write sample, so that a
# retried request's is stored once (the unique index holds series, ts and key).
RESEND_KEY = "rw"

_T = descriptor_pb2.FieldDescriptorProto
_MESSAGES: dict[str, list[tuple[str, int, Any, str | None]]] = {  # name → fields:
    # (name, number, type, None or, for a repeated field, its message type or "bytes")
    "Label": [("name", 1, _T.TYPE_STRING, None), ("value", 2, _T.TYPE_STRING, None)],
    "Sample": [("value", 1, _T.TYPE_DOUBLE, None), ("timestamp", 2, _T.TYPE_INT64, None)],
    "TimeSeries": [
        ("labels", 1, _T.TYPE_MESSAGE, ".prometheus.Label"),
        ("samples", 2, _T.TYPE_MESSAGE, ".prometheus.Sample"),
        # native histograms: counted as skipped, so their bytes are not worth decoding
        ("histograms", 4, _T.TYPE_BYTES, "bytes"),
    ],
    "WriteRequest": [("timeseries", 1, _T.TYPE_MESSAGE, ".prometheus.TimeSeries")],
}


class DecodedTooLarge(ValueError):
    """The body unpacks to more than MAX_DECODED_BYTES (a 413)."""


def _message_classes() -> dict[str, Any]:
    """The remote-write messages Pulse reads, as protobuf classes."""
    file = descriptor_pb2.FileDescriptorProto(
        name="pulse/remote_write.proto", package="prometheus", syntax="proto3"
    )
    for name, fields in _MESSAGES.items():
        message = file.message_type.add(name=name)
        for field_name, number, kind, of in fields:
            field = message.field.add(name=field_name, number=number, type=kind)
            field.label = _T.LABEL_REPEATED if of else _T.LABEL_OPTIONAL
            if kind == _T.TYPE_MESSAGE:
                field.type_name = of
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"prometheus.{name}"))
        for name in _MESSAGES
    }


MESSAGES = _message_classes()
WriteRequest: Any = MESSAGES["WriteRequest"]


def decode(body: bytes) -> Any:
    """The WriteRequest in a snappy body; BodyError when it is not one, DecodedTooLarge."""
    declared = _declared_length(body)
    if declared > MAX_DECODED_BYTES:
        raise DecodedTooLarge(f"the body unpacks to over {MAX_DECODED_BYTES} bytes")
    try:
        raw = bytes(cramjam.snappy.decompress_raw(body))
    except cramjam.DecompressionError:
        raise BodyError("the body is not snappy-compressed (block format)") from None
    try:
        return WriteRequest.FromString(raw)
    except DecodeError:
        raise BodyError("the body is not a remote-write WriteRequest (protobuf)") from None


def _declared_length(body: bytes) -> int:
    """The uncompressed length a snappy block states first (a varint)."""
    length = shift = 0
    for byte in body[:5]:
        length |= (byte & 0x7F) << shift
        if byte < 0x80:
            return length
        shift += 7
    raise BodyError("the body is not snappy-compressed (block format)")


def sample_count(request: Any) -> int:
    """How many samples the request holds (before any is skipped)."""
    return sum(len(series.samples) for series in request.timeseries)


def to_points(request: Any, now_ms: int, oldest_ms: int) -> Parsed:
    """The points of a decoded WriteRequest, with one problem per bad series."""
    out = Parsed()
    for index, series in enumerate(request.timeseries):
        out.skipped += len(series.histograms)
        labels = {label.name: label.value for label in series.labels if label.value}
        name = labels.pop("__name__", "")
        source = pick_source(labels, SOURCE_LABELS)
        metric = bounded(clean(name) + folded(labels.items()) if labels else clean(name))
        problem = _series_problem(name, source, metric)
        if problem is not None:
            out.problems.append(Problem(index, *problem))
            continue
        assert source is not None
        points, skipped, late = _samples(series.samples, source, metric, now_ms, oldest_ms)
        if late is not None:
            out.problems.append(Problem(index, "timestamp", f"series {metric}: a sample {late}"))
            continue
        out.points.extend(points)
        out.skipped += skipped
    return out


def _series_problem(name: str, source: str | None, metric: str) -> tuple[str, str] | None:
    if not name:
        return "metric_type", "the series has no __name__ label"
    if source is None:
        return "source", f"series {metric}: needs an `instance`, `host`, `job` or `source` label"
    return None


def _samples(
    samples: Any, source: str, metric: str, now_ms: int, oldest_ms: int
) -> tuple[list[Point], int, str | None]:
    """A series' storable points, how many samples were skipped, and why one may not be
    stored (None: all may)."""
    points, skipped = [], 0
    isfinite = math.isfinite
    for sample in samples:
        value, ts_ms = sample.value, sample.timestamp
        if not isfinite(value):
            skipped += 1
            continue
        outside = window_problem(ts_ms, now_ms, oldest_ms)
        if outside is not None:
            return [], 0, outside
        points.append(Point(RESEND_KEY, source, metric, ts_ms, value))
    return points, skipped, None


def encode(series: list[tuple[dict[str, str], list[tuple[float, int]]]]) -> bytes:
    """A snappy WriteRequest of `series` (labels, [(value, ts_ms)]): what Prometheus sends,
    for tests and the bench."""
    request = WriteRequest()
    for labels, samples in series:
        added = request.timeseries.add()
        for name, text in sorted(labels.items()):
            added.labels.add(name=name, value=text)
        for value, ts_ms in samples:
            added.samples.add(value=value, timestamp=ts_ms)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
