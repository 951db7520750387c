"""The OpenAPI 3 document of the /api routes; a test checks it names every route."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/responses/Error"}
_AUTH_ERRORS = {"401": _ERROR, "403": _ERROR}


_AGGS = ("avg", "min", "max", "sum", "count", "last")
_NAMES = {"type": "array", "items": {"type": "string", "maxLength": 128}}
_TIME = {
    "type": "string",
    "description": "RFC 3339, epoch seconds, or relative: now, now-15m, now-6h, now-7d",
}


def _query(
    name: str, schema: dict[str, Any], required: bool = False, explode: bool = False
) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": "query", "required": required, "schema": schema}
    if explode:
        param.update(style="form", explode=True)
    return param


_DATA_PARAMETERS = [
    _query("metric", _NAMES, required=True, explode=True),
    _query("source", _NAMES, explode=True),
    _query("start", {**_TIME, "default": "now-1h"}),
    _query("end", {**_TIME, "default": "now"}),
    _query(
        "step",
        {"type": "string", "default": "auto", "examples": ["auto", "10s", "1m", "1h", "1d"]},
    ),
    _query("agg", {"type": "string", "enum": list(_AGGS), "default": "avg"}),
]


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_SOURCE_ID = {"name": "source_id", "in": "path", "required": True, "schema": {"type": "string"}}
_SOURCE_REF = {"$ref": "#/components/schemas/Source"}
_SOURCE = {
    "type": "object",
    "required": ["name", "kind"],
    "properties": {
        "id": {"type": "string", "readOnly": True},
        "name": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$"},
        "kind": {"enum": ["prometheus", "http_json", "sql", "file_tail", "demo"]},
        "config": {
            "type": "object",
            "description": "per kind, see README 'Sources'; credentials are shown as ***",
        },
        "interval_s": {"type": "number", "minimum": 0.2, "default": 10},
        "timeout_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 600},
        "enabled": {"type": "boolean", "default": True},
        "health": {
            "type": "object",
            "readOnly": True,
            "properties": {
                "status": {"enum": ["pending", "up", "failing", "down", "disabled"]},
                "last_success_at": {"type": ["string", "null"], "format": "date-time"},
                "last_error_at": {"type": ["string", "null"], "format": "date-time"},
                "last_error": {"type": ["string", "null"]},
                "consecutive_failures": {"type": "integer"},
            },
        },
        "state": {"type": "object", "readOnly": True},
    },
}


def _sources_paths() -> dict[str, Any]:
    body = {"required": True, "content": {"application/json": {"schema": _SOURCE_REF}}}
    one = _json(_SOURCE_REF, "the source")
    return {
        "/api/sources": {
            "get": {
                "summary": "The tenant's polled sources with their health (admins)",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"sources": {"type": "array", "items": _SOURCE_REF}},
                        },
                        "sources",
                    ),
                    **_AUTH_ERRORS,
                },
            },
            "post": {
                "summary": "Add a source (admins)",
                "requestBody": body,
                "responses": {
                    "201": one,
                    "400": _ERROR,
                    "409": _ERROR,
                    "422": _ERROR,
                    **_AUTH_ERRORS,
                },
            },
        },
        "/api/sources/{source_id}": {
            "parameters": [_SOURCE_ID],
            "get": {
                "summary": "One source with its health (admins)",
                "responses": {"200": one, "404": _ERROR, **_AUTH_ERRORS},
            },
            "put": {
                "summary": "Change a source; fields left out keep their value (admins)",
                "requestBody": body,
                "responses": {
                    "200": one,
                    "400": _ERROR,
                    "404": _ERROR,
                    "409": _ERROR,
                    "422": _ERROR,
                    **_AUTH_ERRORS,
                },
            },
            "delete": {
                "summary": "Remove a source (admins)",
                "responses": {"204": {"description": "removed"}, "404": _ERROR, **_AUTH_ERRORS},
            },
        },
    }


_RULE_ID = {"name": "rule_id", "in": "path", "required": True, "schema": {"type": "string"}}
_RULE_REF = {"$ref": "#/components/schemas/AlertRule"}
_NOTIFICATION_REF = {"$ref": "#/components/schemas/Notification"}
_INCIDENT_REF = {"$ref": "#/components/schemas/Incident"}
_RULE = {
    "type": "object",
    "required": ["name", "metric", "kind"],
    "description": (
        "Parameters per kind: threshold (op, threshold, clear_threshold, for_s), rate"
        " (change_pct, direction, window_s, clear_threshold, for_s), spike (zscore, window_s,"
        " clear_threshold, for_s: robust z-score against the series' median/MAD over"
        " window_s), nodata (window_s, source_down: also fire on the pipeline's source.down"
        " events of the source named by `source`, or any with *)."
    ),
    "properties": {
        "id": {"type": "string", "readOnly": True},
        "name": {"type": "string", "maxLength": 200},
        "metric": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$"},
        "source": {"type": "string", "default": "*"},
        "kind": {"enum": ["threshold", "rate", "spike", "nodata"]},
        "op": {"enum": [">", "<"], "default": ">"},
        "threshold": {"type": "number"},
        "clear_threshold": {"type": ["number", "null"]},
        "for_s": {"type": "number", "minimum": 0, "default": 0},
        "change_pct": {"type": "number", "exclusiveMinimum": 0},
        "direction": {"enum": ["up", "down", "both"], "default": "both"},
        "zscore": {"type": "number", "exclusiveMinimum": 0},
        "window_s": {"type": "number", "minimum": 1},
        "source_down": {"type": "boolean", "default": False},
        "severity": {"enum": ["info", "warning", "critical"], "default": "warning"},
        "cooldown_s": {"type": "number", "minimum": 0, "default": 300},
        "channels": {
            "type": "array",
            "items": {"enum": ["in_app", "webhook", "email"]},
            "default": ["in_app"],
        },
        "webhook_url": {
            "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
        },
        "email_to": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "enabled": {"type": "boolean", "default": True},
        "silenced_until": {"type": ["string", "null"], "format": "date-time", "readOnly": True},
        "webhook_secret": {
            "type": "string",
            "readOnly": True,
            "description": "HMAC-SHA256 key of X-Pulse-Signature (shown to analysts, admins)",
        },
    },
}
_NOTIFICATION = {
    "type": "object",
    "properties": {
        "notification_id": {"type": "string"},
        "rule_id": {"type": "string"},
        "incident_id": {"type": "string"},
        "message": {"type": "string"},
        "severity": {"enum": ["info", "warning", "critical"]},
        "state": {"enum": ["firing", "resolved"]},
        "metric": {"type": "string"},
        "source": {"type": "string"},
        "value": {"type": ["number", "null"]},
        "timestamp": {"type": "string", "format": "date-time"},
        "read": {"type": "boolean"},
    },
}
_INCIDENT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "incident_key": {"type": "string"},
        "rule_id": {"type": "string"},
        "rule_name": {"type": "string"},
        "cause": {"enum": ["value", "nodata", "source_down"]},
        "metric": {"type": "string"},
        "source": {"type": "string"},
        "state": {"enum": ["firing", "resolved"]},
        "severity": {"type": "string"},
        "message": {"type": "string"},
        "value": {"type": ["number", "null"]},
        "resolved_value": {"type": ["number", "null"]},
        "started_at": {"type": "string", "format": "date-time"},
        "resolved_at": {"type": ["string", "null"], "format": "date-time"},
        "acknowledged_by": {"type": ["string", "null"]},
        "acknowledged_at": {"type": ["string", "null"], "format": "date-time"},
        "deliveries": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "state": {"enum": ["firing", "resolved"]},
                    "channel": {"enum": ["webhook", "email"]},
                    "target": {"type": "string"},
                    "status": {"enum": ["pending", "sending", "retrying", "sent", "failed"]},
                    "attempts": {"type": "integer"},
                    "last_error": {"type": ["string", "null"]},
                    "sent_at": {"type": ["string", "null"], "format": "date-time"},
                    "next_attempt_at": {"type": ["string", "null"], "format": "date-time"},
                },
            },
        },
    },
}
_PAGING = [
    _query("limit", {"type": "integer", "minimum": 1, "default": 50}),
    _query("offset", {"type": "integer", "minimum": 0, "default": 0}),
]


def _alerts_paths() -> dict[str, Any]:
    body = {"required": True, "content": {"application/json": {"schema": _RULE_REF}}}
    one = _json(_RULE_REF, "the rule")
    refused = {"400": _ERROR, "422": _ERROR, **_AUTH_ERRORS}
    return {
        "/api/alerts": {
            "get": {
                "summary": "The tenant's alert rules",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"alerts": {"type": "array", "items": _RULE_REF}},
                        },
                        "rules",
                    ),
                    **_AUTH_ERRORS,
                },
            },
            "post": {
                "summary": "Create a rule (analysts, admins)",
                "requestBody": body,
                "responses": {"201": one, "409": _ERROR, **refused},
            },
        },
        "/api/alerts/preview": {
            "post": {
                "summary": "Replay a rule definition over the last 7 days (1-minute rollup):"
                " when it would have fired (analysts, admins)",
                "requestBody": body,
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "from": {"type": "string", "format": "date-time"},
                                "to": {"type": "string", "format": "date-time"},
                                "step": {"type": "string"},
                                "fired": {"type": "integer"},
                                "series": {"type": "array", "items": {"type": "object"}},
                            },
                        },
                        "firings per series",
                    ),
                    **refused,
                },
            }
        },
        "/api/alerts/{rule_id}": {
            "parameters": [_RULE_ID],
            "get": {
                "summary": "One rule",
                "responses": {"200": one, "404": _ERROR, **_AUTH_ERRORS},
            },
            "put": {
                "summary": "Change a rule; fields left out keep their value (analysts, admins)",
                "requestBody": body,
                "responses": {"200": one, "404": _ERROR, **refused},
            },
            "delete": {
                "summary": "Remove a rule and its incidents (analysts, admins)",
                "responses": {"204": {"description": "removed"}, "404": _ERROR, **_AUTH_ERRORS},
            },
        },
        "/api/alerts/{rule_id}/silence": {
            "parameters": [_RULE_ID],
            "post": {
                "summary": "Silence a rule: {until: time|null} or {for_s: n} (analysts, admins)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "until": {"type": ["string", "number", "null"]},
                                    "for_s": {"type": "number"},
                                },
                            }
                        }
                    },
                },
                "responses": {"200": one, "404": _ERROR, **refused},
            },
        },
        "/api/incidents": {
            "get": {
                "summary": "The tenant's incidents, newest first, with their deliveries",
                "parameters": [
                    _query("rule_id", {"type": "string"}),
                    _query("state", {"enum": ["firing", "resolved"]}),
                    *_PAGING,
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"incidents": {"type": "array", "items": _INCIDENT_REF}},
                        },
                        "incidents",
                    ),
                    "422": _ERROR,
                    **_AUTH_ERRORS,
                },
            }
        },
        "/api/incidents/{incident_id}": {
            "get": {
                "summary": "One incident",
                "parameters": [
                    {
                        "name": "incident_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": _json(_INCIDENT_REF, "the incident"),
                    "404": _ERROR,
                    **_AUTH_ERRORS,
                },
            }
        },
        "/api/incidents/{incident_id}/ack": {
            "post": {
                "summary": "Acknowledge an incident (any signed-in user of the tenant)",
                "parameters": [
                    {
                        "name": "incident_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": _json(_INCIDENT_REF, "the incident"),
                    "404": _ERROR,
                    **_AUTH_ERRORS,
                },
            }
        },
        "/api/notifications": {
            "get": {
                "summary": "The caller's notifications: unread first, then newest",
                "parameters": [
                    _query("unread", {"type": "boolean"}),
                    _query(
                        "severity",
                        {
                            "enum": ["info", "warning", "critical"],
                            "description": "this level and above",
                        },
                    ),
                    _query("since", _TIME),
                    _query("until", _TIME),
                    *_PAGING,
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "notifications": {"type": "array", "items": _NOTIFICATION_REF},
                                "total": {"type": "integer"},
                                "unread": {"type": "integer"},
                            },
                        },
                        "a page of notifications",
                    ),
                    "422": _ERROR,
                    **_AUTH_ERRORS,
                },
            }
        },
        "/api/notifications/{notification_id}/read": {
            "post": {
                "summary": "Mark one of the caller's notifications read",
                "parameters": [
                    {
                        "name": "notification_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": _json({"type": "object"}, "it, and the unread count"),
                    "404": _ERROR,
                    **_AUTH_ERRORS,
                },
            }
        },
        "/api/notifications/read-all": {
            "post": {
                "summary": "Mark every notification of the caller read",
                "responses": {
                    "200": _json({"type": "object"}, "how many were marked"),
                    **_AUTH_ERRORS,
                },
            }
        },
    }


def openapi_document() -> dict[str, Any]:
    """The document served at /api/openapi.json."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Pulse API", "version": "1"},
        "security": [{"session": []}, {"bearer": []}],
        "paths": {
            "/api/ingest": {
                "post": {
                    "summary": "Write points (key scope ingest, or an analyst/admin session)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/Point"},
                                        },
                                        {
                                            "type": "object",
                                            "required": ["points"],
                                            "properties": {
                                                "points": {
                                                    "type": "array",
                                                    "items": {"$ref": "#/components/schemas/Point"},
                                                }
                                            },
                                        },
                                    ]
                                }
                            },
                            "application/x-ndjson": {"schema": {"type": "string"}},
                        },
                    },
                    "responses": {
                        "202": _json(
                            {"type": "object", "properties": {"accepted": {"type": "integer"}}},
                            "every point is durably queued",
                        ),
                        "400": _ERROR,
                        "413": _ERROR,
                        "422": _ERROR,
                        "503": _ERROR,  # Redis (or PostgreSQL) away: resend after Retry-After
                        **_AUTH_ERRORS,
                    },
                }
            },
            "/api/metrics": {
                "get": {
                    "summary": "The tenant's metrics: name, sources, latest value and time",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "metrics": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Metric"},
                                    }
                                },
                            },
                            "metrics",
                        ),
                        **_AUTH_ERRORS,
                    },
                }
            },
            "/api/data": {
                "get": {
                    "summary": "History and trends: bucketed series of the tenant's metrics",
                    "description": (
                        "Buckets are aligned to UTC epoch multiples of the step; every bucket"
                        " overlapping [start, end) is answered whole, empty ones are absent."
                        " `cursor` is the live cursor read before the query: resuming /ws or"
                        " /api/updates from it may repeat a point, never miss one. A metric"
                        " the tenant does not have is absent from `series`."
                    ),
                    "parameters": _DATA_PARAMETERS,
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/DataAnswer"}, "series"),
                        "422": _ERROR,
                        **_AUTH_ERRORS,
                    },
                }
            },
            "/api/export": {
                "get": {
                    "summary": "The query of /api/data as a CSV or Excel file (analyst, admin,"
                    " or a read key)",
                    "description": (
                        "Same parameters and buckets as /api/data; an explicit step is not"
                        " capped at 10,000 buckets per series. Times are bucket starts in"
                        " `tz` (else the user's `timezone` preference, else UTC), named:"
                        " CSV columns time (ISO 8601 with offset), time_zone, metric, source,"
                        " agg, step, value; the workbook has a sheet describing the query,"
                        " then one sheet per series (date cells in local time, value, ISO"
                        " 8601). Text cells starting with = + - @ or a control character"
                        " are prefixed with '. A series over Excel's 1,048,575 rows per"
                        " sheet answers 422 too_many_rows before anything is sent."
                    ),
                    "parameters": [
                        *_DATA_PARAMETERS,
                        _query(
                            "format", {"type": "string", "enum": ["csv", "xlsx"], "default": "csv"}
                        ),
                        _query("tz", {"type": "string", "examples": ["Europe/Paris", "UTC"]}),
                    ],
                    "responses": {
                        "200": {
                            "description": "the file, as an attachment (CSV streamed)",
                            "content": {
                                "text/csv": {"schema": {"type": "string"}},
                                "application/vnd.openxmlformats-officedocument"
                                ".spreadsheetml.sheet": {
                                    "schema": {"type": "string", "format": "binary"}
                                },
                            },
                        },
                        "422": _ERROR,
                        **_AUTH_ERRORS,
                    },
                }
            },
            "/api/updates": {
                "get": {
                    "summary": "Long-poll fallback of /ws: points after `cursor`, waiting ≤ 25 s",
                    "description": (
                        "Without `cursor`, answers at once with the current one. A cursor older"
                        " than the resume window answers `reset: true` and the current cursor:"
                        " reload from /api/data, then poll on from it."
                    ),
                    "parameters": [
                        _query("cursor", {"type": "string", "pattern": "^[0-9]+-[0-9]+$"}),
                        _query("metric", _NAMES, required=True, explode=True),
                        _query("source", _NAMES, explode=True),
                    ],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Updates"}, "points"),
                        "422": _ERROR,
                        "503": _ERROR,
                        **_AUTH_ERRORS,
                    },
                }
            },
            "/api/stream-token": {
                "get": {
                    "summary": "A short-lived signed token for /ws?token=",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "token": {"type": "string"},
                                    "expires_in": {"type": "integer"},
                                },
                            },
                            "token",
                        ),
                        **_AUTH_ERRORS,
                    },
                }
            },
            "/api/dead-letters": {
                "get": {
                    "summary": "The tenant's ingest entries that could not be stored (admins)",
                    "responses": {
                        "200": {"description": "dead letters, newest first"},
                        **_AUTH_ERRORS,
                    },
                }
            },
            "/api/dead-letters/{dead_id}/replay": {
                "post": {
                    "summary": "Put a dead letter back into the ingest stream (admins)",
                    "parameters": [
                        {
                            "name": "dead_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "202": {"description": "queued again"},
                        "404": _ERROR,
                        **_AUTH_ERRORS,
                    },
                }
            },
            "/api/pipeline/accounting": {
                "get": {
                    "summary": "The tenant's ingest books per minute: accepted, stored, "
                    "duplicates, dead-lettered, in flight; the stream lag and the last "
                    "reconcile result (admins)",
                    "parameters": [
                        {
                            "name": "minutes",
                            "in": "query",
                            "required": False,
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 1440,
                                "default": 60,
                            },
                        }
                    ],
                    "responses": {
                        "200": _json(
                            {"$ref": "#/components/schemas/Accounting"}, "the tenant's books"
                        ),
                        "422": _ERROR,
                        **_AUTH_ERRORS,
                    },
                }
            },
            **_sources_paths(),
            **_alerts_paths(),
            "/api/openapi.json": {
                "get": {
                    "summary": "This document (any signed-in user or API key)",
                    "responses": {"200": {"description": "OK"}, "401": _ERROR},
                }
            },
        },
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "session"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "responses": {"Error": _json({"$ref": "#/components/schemas/Error"}, "refused")},
            "schemas": {
                "Point": {
                    "type": "object",
                    "required": ["source", "metric_type", "timestamp", "value"],
                    "additionalProperties": False,
                    "properties": {
                        "data_id": {"type": "string", "maxLength": 64},
                        "source": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$"},
                        "metric_type": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$"},
                        "timestamp": {
                            "oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}]
                        },
                        "value": {"type": "number"},
                    },
                },
                "DataAnswer": {
                    "type": "object",
                    "properties": {
                        "series": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "metric": {"type": "string"},
                                    "source": {"type": "string"},
                                    "step": {"type": "string", "examples": ["1m"]},
                                    "agg": {"type": "string", "enum": list(_AGGS)},
                                    "points": {
                                        "type": "array",
                                        "items": {
                                            "type": "array",
                                            "prefixItems": [
                                                {"type": "integer"},
                                                {"type": ["number", "null"]},
                                            ],
                                        },
                                    },
                                },
                            },
                        },
                        "cursor": {"type": ["string", "null"]},
                    },
                },
                "Updates": {
                    "type": "object",
                    "properties": {
                        "cursor": {"type": "string"},
                        "points": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "metric": {"type": "string"},
                                    "source": {"type": "string"},
                                    "ts": {"type": "integer"},
                                    "value": {"type": "number"},
                                },
                            },
                        },
                        "reset": {"type": "boolean"},
                    },
                },
                "Metric": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "sources": {"type": "array", "items": {"type": "string"}},
                        "latest_value": {"type": "number"},
                        "latest_time": {"type": "string", "format": "date-time"},
                        "series": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "MinuteBooks": {
                    "type": "object",
                    "properties": {
                        "minute": {"type": "string", "format": "date-time"},
                        "accepted": {"type": "integer"},
                        "stored": {"type": "integer"},
                        "duplicates": {"type": "integer"},
                        "dead_lettered": {"type": "integer"},
                        "in_flight": {"type": "integer"},
                    },
                },
                "Accounting": {
                    "type": "object",
                    "properties": {
                        "tenant": {"type": "string"},
                        "minutes": {"type": "integer"},
                        "as_of": {"type": "string", "format": "date-time"},
                        "rows": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/MinuteBooks"},
                        },
                        "totals": {"type": "object"},
                        "stream": {
                            "type": "object",
                            "properties": {
                                "lag_s": {"type": "number"},
                                "pending": {"type": "integer"},
                                "undelivered": {"type": "integer"},
                            },
                        },
                        "reconcile": {
                            "type": ["object", "null"],
                            "properties": {
                                "checked_at": {"type": "string", "format": "date-time"},
                                "series_checked": {"type": "integer"},
                                "behind": {"type": "integer"},
                                "repaired": {"type": "integer"},
                                "unbalanced_minutes": {"type": "integer"},
                                "unbalanced": {"type": "array", "items": {"type": "string"}},
                            },
                        },
                    },
                },
                "Source": _SOURCE,
                "AlertRule": _RULE,
                "Notification": _NOTIFICATION,
                "Incident": _INCIDENT,
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "details": {"type": "array", "items": {"type": "object"}},
                            },
                        }
                    },
                },
            },
        },
    }
