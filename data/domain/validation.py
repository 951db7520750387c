"""Validators shared by the definitions users send (alert rules, sources), and how a
pydantic refusal becomes the contract's per-field details."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationError
from pydantic_core import core_schema

HTTP_URL_MESSAGE = "must be an http:// or https:// URL of at most 2000 characters"
MAX_URL_CHARS = 2000


class Checked:
    """An annotation running `check` after the type's own validation (its ValueError is the
    detail's message, as the contract words it) and showing `json_schema` in the field's
    JSON schema, so the API's document states the limit the check enforces."""

    def __init__(self, check: Callable[[Any], Any], **json_schema: Any) -> None:
        self.check = check
        self.json_schema = json_schema

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return {**handler(schema), **self.json_schema}


def schema_only(**json_schema: Any) -> Checked:
    """A limit that a later, whole-definition check enforces (with its own message), shown
    in the JSON schema all the same."""
    return Checked(lambda value: value, **json_schema)


def matching(pattern: str | re.Pattern[str], message: str) -> Checked:
    """A validator refusing text the whole of which `pattern` does not match."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(message)
        return value

    return Checked(check, pattern=f"^(?:{compiled.pattern})$")


def http_url(value: str) -> str:
    """`value` when it is an http(s) URL of at most 2000 characters, else ValueError."""
    if not value.startswith(("http://", "https://")) or len(value) > MAX_URL_CHARS:
        raise ValueError(HTTP_URL_MESSAGE)
    return value


def http_url_without_spaces(value: str) -> str:
    """`http_url`, refusing a space anywhere too (a webhook URL is used as typed, and a
    source's URL is stripped first: sources stored with an inner space stay valid)."""
    if " " in value:
        raise ValueError(HTTP_URL_MESSAGE)
    return http_url(value)


def field_problems(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """One {"field", "message"} per distinct problem, fields dotted under `prefix`."""
    out: list[dict[str, str]] = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        # a union's (one URL or a list of them) member names are noise: name the field only
        if any(p.startswith(("list[", "function-")) or p == "str" for p in loc):
            loc = loc[:1]
        field = ".".join(part for part in (prefix, *loc) if part)
        message = str(error["msg"]).removeprefix("Value error, ")
        problem = {"field": field or "body", "message": message}
        if problem not in out:
            out.append(problem)
    return out


# What the URL checks enforce, for the JSON schema (a source's URL is stripped first).
HTTP_URL_SCHEMA = {"pattern": r"^\s*https?://", "maxLength": MAX_URL_CHARS}
WEBHOOK_URL_SCHEMA = {"pattern": "^https?://[^ ]*$", "maxLength": MAX_URL_CHARS}
