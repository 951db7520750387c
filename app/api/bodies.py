"""The JSON body of an /api request, refused with the contract's 400 when unreadable."""

from __future__ import annotations

from typing import Any

from flask import request

from data.domain.errors import Unreadable


def json_body(objects_only: bool = True) -> Any:
    """The request's JSON document; 400 `invalid_body` when there is none, or (with
    `objects_only`) when it is not an object. Without it, a store names a non-object body
    as a problem of its definition (a 422 with a `body` detail)."""
    doc = request.get_json(silent=True)
    if doc is None or (objects_only and not isinstance(doc, dict)):
        raise Unreadable("the body must be a JSON object")
    return doc
