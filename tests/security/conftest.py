"""Fixtures of the fuzzing tests: counted clients, and the run's tally of generated requests.

Every fuzzing test sends its requests through `fuzz_requests`, which counts them. The end
of the run prints the total, and fails the run when the whole fuzzing package ran and sent
fewer than MIN_REQUESTS (a shrunk `max_examples` would otherwise go unnoticed)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import PASSWORD

MIN_REQUESTS = 10_000
_TALLY = pytest.StashKey["Tally"]()


@dataclass
class Tally:
    """Requests sent by fuzzing tests, and how many of those tests ran and passed."""

    requests: int = 0
    tests_collected: int = 0
    tests_passed: int = 0


def _tally(config: pytest.Config) -> Tally:
    if _TALLY not in config.stash:
        config.stash[_TALLY] = Tally()
    return config.stash[_TALLY]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _tally(config).tests_collected = sum(
        "fuzz_requests" in getattr(item, "fixturenames", ()) for item in items
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" and report.passed and "fuzz_requests" in item.fixturenames:
        _tally(item.config).tests_passed += 1
    return report


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    tally = _tally(config)
    if tally.requests:
        terminalreporter.write_line(
            f"security fuzzing: {tally.requests} generated requests"
            f" ({tally.tests_passed}/{tally.tests_collected} fuzzing tests passed)"
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    tally = _tally(session.config)
    whole_package = tally.tests_collected and tally.tests_passed == tally.tests_collected
    if whole_package and tally.requests < MIN_REQUESTS and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


class Counter:
    """Counts the requests of one test into the run's tally."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.sent = 0

    def add(self, n: int = 1) -> None:
        self.sent += n
        self.tally.requests += n


@pytest.fixture
def fuzz_requests(request: pytest.FixtureRequest) -> Iterator[Counter]:
    """This test's request counter; a test that sent nothing fails."""
    counter = Counter(_tally(request.config))
    yield counter
    assert counter.sent > 0, "a fuzzing test sent no request"


class CountedClient:
    """A Flask test client whose requests are counted."""

    def __init__(self, client: Any, counter: Counter) -> None:
        self.client = client
        self.counter = counter

    def open(self, *args: Any, **kwargs: Any) -> Any:
        self.counter.add()
        return self.client.open(*args, **kwargs)

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self.open(*args, method="GET", **kwargs)

    def post(self, *args: Any, **kwargs: Any) -> Any:
        return self.open(*args, method="POST", **kwargs)


def random_address() -> str:
    """A client address of its own, so the sign-in throttle of one case never meets another."""
    octets = uuid.uuid4().bytes[:3]
    return "10." + ".".join(str(b) for b in octets)


@pytest.fixture
def client(web: Any, fuzz_requests: Counter) -> CountedClient:
    """A counted client of the whole web role, from an address of its own."""
    test_client = web.test_client()
    test_client.environ_base["REMOTE_ADDR"] = random_address()
    return CountedClient(test_client, fuzz_requests)


@pytest.fixture
def analyst(web: Any, tenant: str, make_user: Any, fuzz_requests: Counter) -> CountedClient:
    """A counted client signed in as an analyst of the test tenant."""
    user = make_user(tenant, "analyst")
    test_client = web.test_client()
    test_client.environ_base["REMOTE_ADDR"] = random_address()
    resp = test_client.post("/login", json={"username": user.username, "password": PASSWORD})
    assert resp.status_code == 200
    return CountedClient(test_client, fuzz_requests)


def assert_no_server_error(resp: Any, what: Any) -> None:
    """Never a 5xx; the failing request is shown (shrunk by hypothesis)."""
    assert resp.status_code < 500, (resp.status_code, resp.get_data(as_text=True)[:300], what)


def assert_contract_error(resp: Any, what: Any) -> dict[str, Any]:
    """A 4xx whose body is the contract's `{"error": {"code", "message", "details"}}`."""
    assert 400 <= resp.status_code < 500, (resp.status_code, what)
    assert resp.mimetype == "application/json", (resp.mimetype, what)
    body = resp.get_json()
    assert isinstance(body, dict) and set(body) == {"error"}, (body, what)
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, (error, what)
    assert isinstance(error["code"], str) and error["code"], (error, what)
    assert isinstance(error["message"], str) and error["message"], (error, what)
    assert isinstance(error["details"], list), (error, what)
    return dict(error)
