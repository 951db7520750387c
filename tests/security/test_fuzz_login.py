"""POST /login with generated forms and JSON bodies: never a 5xx; a JSON refusal is the
contract's error; a sign-in only ever sends the browser to a path of this site."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import PASSWORD
from tests.security.conftest import assert_contract_error, assert_no_server_error, random_address
from tests.security.strategies import Pairs, dumps, hostile_text, json_values

FUZZ = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NEXT_URLS = [
    "/",
    "/history",
    "//evil.example",
    "/\\evil.example",
    "https://evil.example",
    "/\t/evil.example",
    "javascript:alert(1)",
    "/%2F%2Fevil.example",
]
FIELDS = ["username", "password", "next"]


@st.composite
def credentials(draw: st.DrawFn, username: str) -> list[tuple[str, Any]]:
    """Form or JSON fields: the real user or hostile text, the real password or not, maybe
    a `next`, maybe repeated or unknown fields."""
    pairs: list[tuple[str, Any]] = [
        ("username", draw(st.one_of(st.just(username), hostile_text))),
        ("password", draw(st.one_of(st.just(PASSWORD), hostile_text))),
    ]
    if draw(st.booleans()):
        pairs.append(("next", draw(st.one_of(st.sampled_from(NEXT_URLS), hostile_text))))
    for _ in range(draw(st.integers(0, 2))):
        pairs.append((draw(st.one_of(st.sampled_from(FIELDS), hostile_text)), draw(hostile_text)))
    return draw(st.permutations(pairs))


def form_body(pairs: list[tuple[str, Any]]) -> str:
    def part(value: Any) -> str:
        return quote(str(value).encode("utf-8", "surrogatepass"), safe="")

    return "&".join(f"{part(k)}={part(v)}" for k, v in pairs)


def check_sign_in(resp: Any, is_json: bool, what: Any) -> None:
    assert_no_server_error(resp, what)
    if resp.status_code in (302, 303):
        location = resp.headers["Location"]
        assert location.startswith("/") and not location.startswith(("//", "/\\")), location
    elif resp.status_code >= 400 and is_json:
        assert_contract_error(resp, what)


@pytest.fixture
def username(make_user, tenant: str) -> str:
    """The user the generated credentials aim at (the same for every example of a test)."""
    return str(make_user(tenant, "viewer").username)


@FUZZ
@given(data=st.data())
def test_sign_in_forms(client, username: str, data: st.DataObject) -> None:
    pairs = data.draw(credentials(username))
    body = form_body(pairs)
    resp = client.post(
        "/login",
        data=body,
        content_type="application/x-www-form-urlencoded",
        environ_overrides={"REMOTE_ADDR": random_address()},
    )
    check_sign_in(resp, False, pairs)


@FUZZ
@given(data=st.data())
def test_sign_in_json(client, username: str, data: st.DataObject) -> None:
    doc = data.draw(st.one_of(credentials(username).map(Pairs), json_values))
    body = dumps(doc).encode()
    resp = client.post(
        "/login",
        data=body,
        content_type="application/json",
        environ_overrides={"REMOTE_ADDR": random_address()},
    )
    check_sign_in(resp, True, body)
