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
            "/api/openapi.json": {
                "get": {"summary": "This document", "responses": {"200": {"description": "OK"}}}
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
