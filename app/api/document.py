"""/api/openapi.json, generated: each /api view declares its parameters, body and answers
as pydantic models (`@documented(...)`), and the document is built from the routes Flask
really has, so a route cannot be served undocumented nor documented without existing.

The schemas come from pydantic (`models_json_schema`, JSON Schema 2020-12, which is
OpenAPI 3.1's dialect): the limits the models enforce are the limits the document shows.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from app.api.schemas import ErrorBody, Query

Model = type[BaseModel]
View = TypeVar("View", bound=Callable[..., Any])
REF = "#/components/schemas/{model}"
NDJSON = "application/x-ndjson"
# Every /api route may answer these: no credentials (401), a key of another scope or a
# role too low (403), a backing service away (503, with Retry-After).
ALWAYS = (401, 403, 503)
# A write may also be refused before the view runs (app/web/security.py): a cross-site
# cookie write (403), a body over the limit (413), a body that is not JSON (415).
WRITES = (413, 415)
_REASONS = {
    400: "the body is not a JSON document of the expected shape",
    401: "no credentials, or unknown ones",
    403: "the key's scope or the user's role does not allow this",
    404: "no such object for the caller's tenant",
    409: "the change clashes with what is stored, or a quota is reached",
    413: "the body is too large",
    415: "the body is not JSON",
    422: "invalid parameters or definition: one detail per problem",
    429: "too many attempts from this address lately: try again in a few minutes",
    503: "a backing service is unavailable: retry after Retry-After seconds",
}


@dataclass(frozen=True)
class Body:
    """A JSON request body of `model`; `optional` fields need not be sent (`all`: none need
    be, as in a PUT where fields left out keep their value). `name` names the variant.
    `media` adds other media types (media type → JSON schema); `model` None: only those."""

    model: Model | None
    optional: tuple[str, ...] | str = ()
    name: str | None = None
    ndjson: bool = False  # also taken as NDJSON, one element a line
    media: Mapping[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class File:
    """An answer that is a file: media type → JSON schema of the content."""

    content: Mapping[str, dict[str, Any]]
    description: str


Answer = Model | File | None  # None: no content (204)


@dataclass(frozen=True)
class Operation:
    """What a route takes and answers (its summary and description are its docstring)."""

    responses: Mapping[int, Answer]
    query: type[Query] | None = None
    body: Body | Model | None = None
    refusals: tuple[int, ...] = ()  # besides ALWAYS, WRITES and the body's 400/422
    doc: str | None = None  # for a route that is not a Flask view (/api/updates)
    # Operations the created object's `id` feeds (operationId → its path parameter): the
    # OpenAPI links a client, or schemathesis' stateful phase, follows from a 201.
    links: Mapping[str, str] = field(default_factory=dict)
    # Anyone may call it (sign-up, a reset, accepting an invitation: the body or the link's
    # token is the credential): the document says so with an empty security requirement.
    public: bool = False


def documented(operation: Operation) -> Callable[[View], View]:
    """Attach `operation` to a view; the document reads it from there."""

    def attach(view: View) -> View:
        view.openapi = operation  # type: ignore[attr-defined]
        return view

    return attach


def openapi_document(app: Flask, others: Mapping[tuple[str, str], Operation]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the app's /api routes, plus `others` ((path, method) →
    operation) served outside Flask; LookupError names a view left undocumented."""
    found = {key: (name, op) for key, name, op in _operations(app)}
    found.update({key: (key[0].strip("/").replace("/", "."), op) for key, op in others.items()})
    schemas = _Schemas([op for _, op in found.values()])
    paths: dict[str, dict[str, Any]] = {}
    for (path, method), (name, op) in sorted(found.items()):
        paths.setdefault(path, {})[method] = _operation(path, method, name, op, schemas)
    for ref in schemas.queries:  # their fields are parameters, not a schema of their own
        schemas.components.pop(ref.rsplit("/", 1)[1], None)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Pulse API", "version": "1"},
        "security": [{"session": []}, {"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "session"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": schemas.components,
        },
    }


def _operations(app: Flask) -> Iterator[tuple[tuple[str, str], str, Operation]]:
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        view = app.view_functions[rule.endpoint]
        op = getattr(view, "openapi", None)
        if op is None:
            raise LookupError(f"{rule.endpoint} has no @documented operation")
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield (path, method.lower()), rule.endpoint, _with_doc(op, view.__doc__)


def _with_doc(op: Operation, doc: str | None) -> Operation:
    return op if op.doc else replace(op, doc=doc)


class _Schemas:
    """The components of every model the operations name, generated at once by pydantic
    (requests in validation mode, answers in serialization mode)."""

    def __init__(self, operations: list[Operation]) -> None:
        wanted: dict[tuple[Model, JsonSchemaMode], None] = {(ErrorBody, "serialization"): None}
        for op in operations:
            if op.query is not None:
                wanted[(op.query, "validation")] = None
            model = _body(op.body).model if op.body is not None else None
            if model is not None:
                wanted[(model, "validation")] = None
            for answer in op.responses.values():
                if isinstance(answer, type):
                    wanted[(answer, "serialization")] = None
        refs, defs = models_json_schema(list(wanted), ref_template=REF)
        self.refs = refs
        self.components: dict[str, Any] = defs.get("$defs", {})
        self.queries = [self.ref(q, mode)["$ref"] for q, mode in wanted if issubclass(q, Query)]

    def ref(self, model: Model, mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(self.refs[(model, mode)])

    def body(self, body: Body) -> dict[str, Any]:
        """The body's schema: the model's, or a variant of it with fewer fields required."""
        assert body.model is not None
        ref = self.ref(body.model, "validation")
        if not body.optional:
            return ref
        base = self.components[ref["$ref"].rsplit("/", 1)[1]]
        variant = copy.deepcopy(base)
        keep = [] if body.optional == "all" else base.get("required", [])
        variant["required"] = [f for f in keep if f not in body.optional]
        if not variant["required"]:
            del variant["required"]
        name = body.name or f"{base['title']}Change"
        variant["title"] = name
        self.components[name] = variant
        return {"$ref": REF.format(model=name)}

    def parameters(self, query: type[Query]) -> list[dict[str, Any]]:
        """One query parameter per field of `query` (a list repeats: ?metric=a&metric=b)."""
        schema = self.components[self.ref(query, "validation")["$ref"].rsplit("/", 1)[1]]
        required = set(schema.get("required", []))
        out = []
        for name, prop in schema["properties"].items():
            prop = {k: v for k, v in prop.items() if k != "title"}
            param: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
            if "description" in prop:
                param["description"] = prop.pop("description")
            if prop.get("type") == "array":
                param.update(style="form", explode=True)
            out.append({**param, "schema": prop})
        return out


def _body(body: Body | Model) -> Body:
    return body if isinstance(body, Body) else Body(body)


def _operation(
    path: str, method: str, name: str, op: Operation, schemas: _Schemas
) -> dict[str, Any]:
    doc = (op.doc or name).strip()
    summary, _, description = doc.partition("\n\n")
    out: dict[str, Any] = {"operationId": name, "summary": " ".join(summary.split())}
    if op.public:
        out["security"] = []
    if description:
        out["description"] = " ".join(description.split())
    params = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
        for p in re.findall(r"{([^}]+)}", path)
    ]
    if op.query is not None:
        params += schemas.parameters(op.query)
    if params:
        out["parameters"] = params
    statuses = set(ALWAYS) | set(op.refusals)
    if method in ("post", "put", "delete"):
        statuses |= set(WRITES)
    if op.query is not None:
        statuses.add(422)
    if op.body is not None:
        out["requestBody"] = _request_body(_body(op.body), schemas)
        statuses |= {400, 422}
    out["responses"] = {str(code): _answer(a, schemas) for code, a in op.responses.items()}
    if op.links:
        created = out["responses"][str(min(op.responses))]
        created["links"] = {
            target: {"operationId": target, "parameters": {param: "$response.body#/id"}}
            for target, param in op.links.items()
        }
    for code in sorted(statuses - set(op.responses)):
        out["responses"][str(code)] = _error(code, schemas)
    return out


def _request_body(body: Body, schemas: _Schemas) -> dict[str, Any]:
    content = {}
    if body.model is not None:
        content["application/json"] = {"schema": schemas.body(body)}
    if body.ndjson:
        content[NDJSON] = {"schema": {"type": "string", "description": "one JSON point a line"}}
    content.update({media: {"schema": schema} for media, schema in body.media.items()})
    return {"required": True, "content": content}


def _answer(answer: Answer, schemas: _Schemas) -> dict[str, Any]:
    if answer is None:
        return {"description": "done, nothing to show"}
    if isinstance(answer, File):
        return {"description": answer.description, "content": dict(answer.content)}
    description = (answer.__doc__ or answer.__name__).strip().split("\n\n")[0]
    schema = schemas.ref(answer, "serialization")
    return {"description": " ".join(description.split()), "content": _json(schema)}


def _error(code: int, schemas: _Schemas) -> dict[str, Any]:
    schema = schemas.ref(ErrorBody, "serialization")
    return {"description": _REASONS.get(code, "refused"), "content": _json(schema)}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}
