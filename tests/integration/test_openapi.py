"""/api/openapi.json: generated from the routes' models, a valid OpenAPI 3.1 document, and
it shows the limits the models enforce (the hand-written one had drifted from them)."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from data.domain.data_query import AGGS
from data.domain.rule_spec import MAX_EMAILS, MAX_WEBHOOKS
from data.domain.source_spec import CONFIGS, KINDS, MAX_TIMEOUT_S


@pytest.fixture(scope="module")
def doc(web: Any, services: Any) -> dict[str, Any]:
    key = services.accounts.create_api_key("openapi-doc", "openapi", "read")
    resp = web.test_client().get("/api/openapi.json", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200
    return dict(resp.get_json())


def schema(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(doc["components"]["schemas"][name])


def prop(doc: dict[str, Any], model: str, field: str) -> dict[str, Any]:
    """A property's schema, its non-null member when it is nullable."""
    found = schema(doc, model)["properties"][field]
    members = [m for m in found.get("anyOf", [found]) if m.get("type") != "null"]
    assert len(members) == 1, found
    return {k: v for k, v in members[0].items() if k != "title"}


def body_schema(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    content = doc["paths"][path][method]["requestBody"]["content"]["application/json"]
    ref = content["schema"]["$ref"]
    return schema(doc, ref.rsplit("/", 1)[1])


def test_the_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    assert doc["openapi"] == "3.1.0"
    validate(doc)


def test_the_long_poll_served_outside_flask_is_documented(doc: dict[str, Any]) -> None:
    params = {p["name"]: p for p in doc["paths"]["/api/updates"]["get"]["parameters"]}
    assert params["metric"]["required"] and params["metric"]["schema"]["maxItems"] == 100
    assert set(doc["paths"]["/api/updates"]["get"]["responses"]) >= {"200", "401", "422"}


def test_every_operation_documents_the_refusals_every_route_may_answer(
    doc: dict[str, Any],
) -> None:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert {"401", "403", "503"} <= set(op["responses"]), (method, path)
            if "requestBody" in op:
                assert {"400", "413", "422"} <= set(op["responses"]), (method, path)
            assert op["summary"], (method, path)


def test_rule_limits_are_the_models(doc: dict[str, Any]) -> None:
    assert prop(doc, "RuleSpec", "window_s") == {"type": "number", "minimum": 1, "maximum": 604800}
    assert prop(doc, "RuleSpec", "cooldown_s")["maximum"] == 7 * 86_400
    assert prop(doc, "RuleSpec", "cooldown_s")["minimum"] == 0
    assert prop(doc, "RuleSpec", "change_pct") == {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 1e6,
    }
    assert prop(doc, "RuleSpec", "zscore")["exclusiveMinimum"] == 0
    assert prop(doc, "RuleSpec", "zscore")["maximum"] == 1000
    name = prop(doc, "RuleSpec", "name")
    assert (name["minLength"], name["maxLength"]) == (1, 200)
    assert prop(doc, "RuleSpec", "metric")["pattern"].endswith("{1,128})$")
    channels = prop(doc, "RuleSpec", "channels")
    assert (channels["minItems"], channels["maxItems"]) == (1, 3)
    urls = schema(doc, "RuleSpec")["properties"]["webhook_url"]["anyOf"]
    assert {k: v for k, v in urls[1].items() if k in ("type", "maxItems")} == {
        "type": "array",
        "maxItems": MAX_WEBHOOKS,
    }
    emails = schema(doc, "RuleSpec")["properties"]["email_to"]["anyOf"]
    assert emails[1]["maxItems"] == MAX_EMAILS
    assert urls[0]["maxLength"] == 2000


def test_a_rule_change_and_a_preview_need_fewer_fields(doc: dict[str, Any]) -> None:
    assert "required" not in body_schema(doc, "/api/alerts/{rule_id}", "put")
    assert body_schema(doc, "/api/alerts", "post")["required"] == ["name", "metric", "kind"]
    preview = body_schema(doc, "/api/alerts/preview", "post")
    assert preview["required"] == ["metric", "kind"]
    assert (preview["properties"]["days"]["minimum"], preview["properties"]["days"]["maximum"]) == (
        1,
        7,
    )


def test_a_source_is_a_union_discriminated_by_kind(doc: dict[str, Any]) -> None:
    created = body_schema(doc, "/api/sources", "post")
    assert created["discriminator"]["propertyName"] == "kind"
    assert set(created["discriminator"]["mapping"]) == set(KINDS)
    assert len(created["oneOf"]) == len(KINDS)
    for kind, config in CONFIGS.items():
        variant = schema(doc, created["discriminator"]["mapping"][kind].rsplit("/", 1)[1])
        assert variant["properties"]["kind"]["const"] == kind
        assert variant["properties"]["config"]["$ref"].endswith(f"/{config.__name__}")
        assert variant["properties"]["timeout_s"]["anyOf"][0]["maximum"] == MAX_TIMEOUT_S
        assert variant["properties"]["interval_s"]["minimum"] == 0.2
        assert variant["properties"]["name"]["pattern"].endswith("{1,128})$")
    answered = doc["paths"]["/api/sources/{source_id}"]["get"]["responses"]["200"]
    ref = answered["content"]["application/json"]["schema"]["$ref"]
    assert schema(doc, ref.rsplit("/", 1)[1])["discriminator"]["propertyName"] == "kind"


def test_source_config_limits_are_the_models(doc: dict[str, Any]) -> None:
    assert prop(doc, "PrometheusConfig", "max_series") == {
        "type": "integer",
        "minimum": 1,
        "maximum": 20_000,
        "default": 2000,
    }
    assert prop(doc, "SqlConfig", "query")["maxLength"] == 20_000
    assert prop(doc, "FileTailConfig", "max_bytes")["maximum"] == 64 * 1024 * 1024
    values = prop(doc, "HttpJsonConfig", "values")
    assert (values["minItems"], values["maxItems"]) == (1, 1000)
    assert prop(doc, "PrometheusConfig", "prefix")["pattern"] == "^(?:[A-Za-z0-9_.:\\-]{0,64})$"


def test_query_parameters_show_their_limits(doc: dict[str, Any]) -> None:
    def params(path: str) -> dict[str, Any]:
        return {p["name"]: p for p in doc["paths"][path]["get"]["parameters"]}

    data = params("/api/data")
    assert data["metric"]["required"] and data["metric"]["schema"]["maxItems"] == 20
    assert data["metric"]["explode"] and data["source"]["schema"]["maxItems"] == 100
    assert data["agg"]["schema"]["enum"] == list(AGGS)
    assert params("/api/export")["format"]["schema"]["enum"] == ["csv", "xlsx"]
    minutes = params("/api/pipeline/accounting")["minutes"]["schema"]
    assert (minutes["minimum"], minutes["maximum"]) == (1, 1440)
    assert params("/api/incidents")["limit"]["schema"]["maximum"] == 500
    assert params("/api/notifications")["limit"]["schema"]["maximum"] == 200


def test_a_wrong_method_names_the_right_ones_in_allow(client: Any, ingest_key: str) -> None:
    auth = {"Authorization": f"Bearer {ingest_key}"}
    resp = client.get("/api/ingest", headers=auth)
    assert (resp.status_code, resp.headers["Allow"]) == (405, "POST")
    resp = client.patch("/api/sources/x", headers=auth)
    assert (resp.status_code, resp.headers["Allow"]) == (405, "GET, PUT, DELETE, HEAD")


def test_a_literal_path_owns_its_methods(client: Any, ingest_key: str) -> None:
    """/api/alerts/preview is not the rule "preview" of /api/alerts/<rule_id>."""
    auth = {"Authorization": f"Bearer {ingest_key}"}
    resp = client.get("/api/alerts/preview", headers=auth)
    assert (resp.status_code, resp.headers["Allow"]) == (405, "POST")
    resp = client.options("/api/alerts/preview")
    assert (resp.status_code, resp.headers["Allow"]) == (204, "POST, OPTIONS")
    assert client.options("/api/ingest").headers["Allow"] == "POST, OPTIONS"


def test_incident_paging_is_checked_whatever_the_rule_id(client: Any, services: Any) -> None:
    key = services.accounts.create_api_key("openapi-doc", "openapi-read", "read")
    auth = {"Authorization": f"Bearer {key}"}
    resp = client.get("/api/incidents?rule_id=not-a-uuid&offset=-1", headers=auth)
    assert resp.status_code == 422
    assert resp.get_json()["error"]["details"][0]["field"] == "offset"


def test_links_lead_from_a_created_object_to_the_operations_on_it(doc: dict[str, Any]) -> None:
    ids = {op["operationId"] for item in doc["paths"].values() for op in item.values()}
    for path in ("/api/alerts", "/api/sources"):
        links = doc["paths"][path]["post"]["responses"]["201"]["links"]
        assert len(links) >= 3
        for link in links.values():
            assert link["operationId"] in ids
            assert list(link["parameters"].values()) == ["$response.body#/id"]
