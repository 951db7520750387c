"""POST /api/ingest under generated bodies: never a 5xx, and all or nothing — a 202 queued
exactly the points it accepted (stream and books), a 4xx queued nothing at all."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.services import Services
from tests.security.conftest import assert_contract_error, assert_no_server_error
from tests.security.strategies import (
    GenPoint,
    Pairs,
    any_points,
    bad_points,
    deeply_nested,
    dumps,
    good_points,
    json_values,
)

DAY_MS = 86_400_000
JSON_TYPES = ["application/json", "application/json; charset=utf-8", "text/plain", None]
NDJSON_TYPES = ["application/x-ndjson", "application/jsonl"]
FUZZ = settings(
    max_examples=1_500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@dataclass
class Body:
    """A generated request: bytes, content type, and the points when it is a list of them."""

    data: bytes
    content_type: str | None
    points: list[GenPoint] | None  # None: a body that is no list of points at all


_SHAPES = st.sampled_from(["array", "object", "ndjson"])
_LINE_ENDS = st.sampled_from(["", "\n", "\r\n"])
_JSON_TYPES = st.sampled_from(JSON_TYPES)
_NDJSON_TYPES = st.sampled_from(NDJSON_TYPES)


def point_bodies(points: st.SearchStrategy[GenPoint]) -> st.SearchStrategy[Body]:
    """A list of points as a JSON array, `{"points": [...]}` or NDJSON."""
    return st.builds(
        _body_of, st.lists(points, max_size=6), _SHAPES, _LINE_ENDS, _JSON_TYPES, _NDJSON_TYPES
    )


def _body_of(items: list[GenPoint], shape: str, end: str, json_type: Any, ndjson_type: str) -> Body:
    if shape == "ndjson":
        data = "\n".join(dumps(p.doc) for p in items) + end
        return Body(data.encode(), ndjson_type, items)
    doc: Any = [p.doc for p in items]
    if shape == "object":
        doc = Pairs([("points", doc)])
    return Body(dumps(doc).encode(), json_type, items)


hostile_bodies = st.one_of(
    st.binary(max_size=200).map(lambda b: Body(b, "application/json", None)),
    st.binary(max_size=200).map(lambda b: Body(b, "application/x-ndjson", None)),
    json_values.map(lambda v: Body(dumps(v).encode(), "application/json", None)),
    st.sampled_from([1_000, 5_000, 100_000]).map(
        lambda d: Body(dumps(deeply_nested(d)).encode(), "application/json", None)
    ),
    json_values.map(
        lambda v: Body(dumps(Pairs([("points", v), ("x", 1)])).encode(), "application/json", None)
    ),
)


class IngestProbe:
    """What one tenant has queued: ingest stream entries after a mark, and its books."""

    def __init__(self, services: Services, tenant: str) -> None:
        self.redis = services.redis
        self.live = services.live
        self.tenant = tenant

    def mark(self) -> tuple[str, int]:
        newest = self.redis.xrevrange(self.live.ingest_key, count=1)
        last = newest[0][0].decode() if newest else "0-0"
        return last, self.accepted_in_books()

    def queued_since(self, last: str) -> list[list[Any]]:
        """Packed points of the tenant in entries added after `last`."""
        out: list[list[Any]] = []
        for _, fields in self.redis.xrange(self.live.ingest_key, min=f"({last}"):
            if fields[b"t"].decode() == self.tenant:
                out.extend(orjson.loads(fields[b"p"]))
        return out

    def accepted_in_books(self) -> int:
        now_ms = int(time.time() * 1000)
        books = self.live.books(self.tenant, now_ms - DAY_MS, now_ms + DAY_MS)
        return sum(accepted for accepted, _ in books.values())


@pytest.fixture
def probe(services: Services, tenant: str) -> IngestProbe:
    return IngestProbe(services, tenant)


def post(client: Any, key: str, body: Body) -> Any:
    headers = {"Authorization": f"Bearer {key}"}
    return client.post(
        "/api/ingest", data=body.data, content_type=body.content_type, headers=headers
    )


def check_all_or_nothing(resp: Any, probe: IngestProbe, mark: tuple[str, int], body: Body) -> None:
    """A 202 queued exactly its points, in order; a 4xx queued nothing; never a 5xx."""
    assert_no_server_error(resp, body)
    queued = probe.queued_since(mark[0])
    booked = probe.accepted_in_books() - mark[1]
    if resp.status_code != 202:
        assert_contract_error(resp, body)
        assert queued == [] and booked == 0, ("a refusal queued points", body)
        return
    accepted = resp.get_json()["accepted"]
    assert accepted == len(queued) == booked, (accepted, len(queued), booked, body)
    if body.points is not None:
        assert accepted == len(body.points)
        for sent, (data_id, source, metric, _, value) in zip(body.points, queued, strict=True):
            assert sent.good and isinstance(data_id, str)  # "" when the client sent none
            assert (source, metric, value) == (sent.source, sent.metric, sent.value)


@FUZZ
@given(body=point_bodies(good_points()))
def test_good_points_are_queued_exactly(client, ingest_key: str, probe, body: Body) -> None:
    mark = probe.mark()
    resp = post(client, ingest_key, body)
    if body.points:
        assert resp.status_code == 202, (resp.get_data(as_text=True)[:300], body)
    check_all_or_nothing(resp, probe, mark, body)


@FUZZ
@given(body=point_bodies(any_points), spoil=bad_points(), at=st.integers(0, 8))
def test_one_bad_point_refuses_the_whole_request(
    client, ingest_key: str, probe, body: Body, spoil: GenPoint, at: int
) -> None:
    """Good and bad points mixed: a 4xx, and not one of them queued."""
    assert body.points is not None
    points = [*body.points]
    points.insert(min(at, len(points)), spoil)
    body = point_bodies_like(body, points)
    mark = probe.mark()
    resp = post(client, ingest_key, body)
    assert resp.status_code in (400, 422), (resp.get_data(as_text=True)[:300], body)
    check_all_or_nothing(resp, probe, mark, body)


def point_bodies_like(body: Body, points: list[GenPoint]) -> Body:
    """The same shape and content type as `body`, with other points."""
    if body.content_type in NDJSON_TYPES:
        data = "\n".join(dumps(p.doc) for p in points).encode()
    elif body.data.startswith(b"{"):
        data = dumps(Pairs([("points", [p.doc for p in points])])).encode()
    else:
        data = dumps([p.doc for p in points]).encode()
    return Body(data, body.content_type, points)


@settings(FUZZ, max_examples=700)
@given(body=hostile_bodies)
def test_hostile_bodies_never_fail_the_server_nor_half_queue(
    client, ingest_key: str, probe, body: Body
) -> None:
    mark = probe.mark()
    check_all_or_nothing(post(client, ingest_key, body), probe, mark, body)
