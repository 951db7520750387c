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


def storable(value: Any) -> bool:
    """Whether every string in `value` (a decoded document, keys included) can be stored by
    PostgreSQL: no NUL character (text and jsonb refuse it) and no unpaired surrogate (which
    the standard parser decodes from `\\ud800`, but which no UTF-8 encoder accepts)."""
    if isinstance(value, str):
        return "\x00" not in value and (value.isascii() or _encodes(value))
    if isinstance(value, dict):
        return all(storable(k) and storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(storable(item) for item in value)
    return True


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
