"""JSON text from outside (request bodies, lines of files): parsed fast, refused cleanly."""

from __future__ import annotations

import json
from typing import Any

import orjson


def loads(raw: bytes | str) -> Any:
    """The document in `raw`: orjson first, the standard parser as a fallback so that `NaN`
    and `1e400` reach validation (orjson refuses them). A document nested too deeply for the
    standard parser is a ValueError like any other malformed body, never a RecursionError."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            return json.loads(raw)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
