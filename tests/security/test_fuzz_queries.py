"""GET /api/data, /api/export and /api/updates under generated query strings (hostile
names, times, steps, zones, repeated and unknown parameters, SQL-ish text, broken
percent-encoding): never a 5xx, and every refusal is the contract's JSON error."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.services import Services
from data.domain.points import Point
from tests.security.conftest import Counter, assert_contract_error, assert_no_server_error
from tests.security.strategies import encode_query, query_pairs, raw_query_strings

FUZZ = settings(
    max_examples=1_200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
queries = st.one_of(query_pairs(), raw_query_strings)


def qs(query: Any) -> str:
    return encode_query(query)


@pytest.fixture
def read_key(services: Services, tenant: str) -> str:
    """A read key of a tenant with a few stored points, so queries have rows to scan."""
    now_ms = services.now_ms()
    services.history.write_points(
        [
            (tenant, Point(uuid.uuid4().hex, src, "cpu.usage", now_ms - i * 60_000, float(i)))
            for i in range(30)
            for src in ("web-1", "s")
        ]
    )
    return services.accounts.create_api_key(tenant, "fuzz read", "read")


def check_answer(resp: Any, query: Any) -> None:
    """Never a 5xx; a refusal is the contract's JSON error."""
    assert_no_server_error(resp, query)
    if resp.status_code >= 400:
        assert_contract_error(resp, query)


@FUZZ
@given(query=queries)
def test_data_queries(client, read_key: str, query: Any) -> None:
    resp = client.get(
        "/api/data", query_string=qs(query), headers={"Authorization": f"Bearer {read_key}"}
    )
    check_answer(resp, query)
    if resp.status_code == 200:
        assert isinstance(resp.get_json()["series"], list)


@FUZZ
@given(query=queries)
def test_export_queries(client, read_key: str, query: Any) -> None:
    resp = client.get(
        "/api/export", query_string=qs(query), headers={"Authorization": f"Bearer {read_key}"}
    )
    check_answer(resp, query)
    if resp.status_code == 200:
        assert resp.get_data()  # the whole file streams without an error


@settings(FUZZ, max_examples=300)
@given(query=queries)
def test_data_and_export_queries_of_a_session(analyst, query: Any) -> None:
    """The same through a signed-in analyst (the export zone may come from preferences)."""
    for path in ("/api/data", "/api/export"):
        check_answer(analyst.get(path, query_string=qs(query)), query)


class CountedResponse:
    """A requests response with the Flask test response's names the checks use."""

    def __init__(self, resp: requests.Response) -> None:
        self.status_code = resp.status_code
        self.mimetype = resp.headers.get("content-type", "").split(";")[0]
        self.resp = resp

    def get_data(self, as_text: bool = False) -> Any:
        return self.resp.text if as_text else self.resp.content

    def get_json(self) -> Any:
        return self.resp.json()


@pytest.fixture
def updates(live_server, read_key: str, fuzz_requests: Counter) -> Any:
    """GET /api/updates of the real server (it is served on the event loop, not by Flask)."""
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {read_key}"

    def get(query: Any) -> CountedResponse:
        fuzz_requests.add()
        # a valid cursor long-polls: the timeout is the test's, the wait is not checked here
        return CountedResponse(
            http.get(live_server.url + "/api/updates", params=qs(query), timeout=30)
        )

    yield get
    http.close()


def without_valid_cursor(query: Any) -> Any:
    """The query minus any `cursor`, so that the poll answers at once; an invalid cursor
    stays (it is refused before any wait)."""
    if isinstance(query, str):
        return query
    from data.stores.live import CURSOR_RE

    return [(k, v) for k, v in query if k != "cursor" or not CURSOR_RE.fullmatch(v)]


@settings(FUZZ, max_examples=1_500)
@given(query=queries)
def test_updates_queries(updates, query: Any) -> None:
    query = without_valid_cursor(query)
    resp = updates(query)
    check_answer(resp, query)
    if resp.status_code == 200:
        assert set(resp.get_json()) >= {"cursor", "points"}
