"""What the fuzzing found, pinned one request each: text PostgreSQL cannot store (NUL, an
unpaired surrogate) in a sign-in or an alert rule was a 500, and a null point in an ingest
body was dropped silently instead of refusing the request."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from app.services import Services
from tests.conftest import PASSWORD
from tests.security.conftest import assert_contract_error, random_address

RULE = {"name": "CPU hot", "metric": "cpu.usage", "kind": "threshold", "threshold": 80}
UNSTORABLE = ["\x00", "a\x00b", "\ud800", "x\udfff"]


@pytest.fixture
def browser(web: Any) -> Any:
    client = web.test_client()
    client.environ_base["REMOTE_ADDR"] = random_address()
    return client


@pytest.fixture
def analyst(browser: Any, tenant: str, make_user: Any) -> Any:
    user = make_user(tenant, "analyst")
    resp = browser.post("/login", json={"username": user.username, "password": PASSWORD})
    assert resp.status_code == 200
    return browser


def json_body(doc: Any) -> bytes:
    """JSON text as the standard library writes it (orjson refuses lone surrogates)."""
    import json

    return json.dumps(doc).encode()


@pytest.mark.parametrize("text", UNSTORABLE)
def test_a_sign_in_with_unstorable_text_is_wrong_credentials(
    browser: Any, tenant: str, make_user: Any, text: str
) -> None:
    user = make_user(tenant, "viewer")
    for doc in (
        {"username": text, "password": PASSWORD},
        {"username": user.username, "password": text},
    ):
        resp = browser.post("/login", data=json_body(doc), content_type="application/json")
        assert resp.status_code == 401 and assert_contract_error(resp, doc)["code"] == (
            "bad_credentials"
        )
    # a form's bytes that are no UTF-8 are decoded with replacement characters; NUL stays
    form = browser.post(
        "/login",
        data=f"username=a%00b&password={PASSWORD}",
        content_type="application/x-www-form-urlencoded",
    )
    assert form.status_code == 401
    assert (
        browser.post("/login", data={"username": user.username, "password": PASSWORD}).status_code
        == 303
    )


@pytest.mark.parametrize("text", UNSTORABLE)
@pytest.mark.parametrize("field", ["name", "webhook_url", "email_to"])
def test_a_rule_with_unstorable_text_is_refused_field_by_field(
    analyst: Any, field: str, text: str
) -> None:
    value = {
        "name": text,
        "webhook_url": f"https://h.example/{text}",
        "email_to": f"{text}@example.com",
    }[field]
    doc = {
        **RULE,
        field: value,
        "channels": ["in_app", "webhook", "email"],
        "webhook_url": "https://h.example/",
        "email_to": "ops@example.com",
    }
    doc[field] = value
    for path in ("/api/alerts", "/api/alerts/preview"):
        resp = analyst.post(path, data=json_body(doc), content_type="application/json")
        error = assert_contract_error(resp, doc)
        assert resp.status_code == 422 and error["code"] == "invalid_rule"
        assert [d["field"] for d in error["details"]] == [field]
    assert analyst.get("/api/alerts").get_json()["alerts"] == []


def test_a_null_point_refuses_the_request_and_queues_nothing(
    browser: Any, services: Services, ingest_key: str
) -> None:
    point = {"source": "s", "metric_type": "m", "timestamp": time.time() - 1, "value": 1}
    before = services.redis.xlen(services.live.ingest_key)
    bodies = [
        (orjson.dumps([point, None]), "application/json"),
        (orjson.dumps([None]), "application/json"),
        (orjson.dumps(point) + b"\nnull", "application/x-ndjson"),
    ]
    for body, content_type in bodies:
        resp = browser.post(
            "/api/ingest",
            data=body,
            content_type=content_type,
            headers={"Authorization": f"Bearer {ingest_key}"},
        )
        assert resp.status_code == 422, resp.get_data(as_text=True)
        assert assert_contract_error(resp, body)["details"][0]["message"] == (
            "a point must be a JSON object"
        )
    assert services.redis.xlen(services.live.ingest_key) == before
