"""Validators shared by the definitions users send (alert rules, sources), and how a
pydantic refusal becomes the contract's per-field details."""

from __future__ import annotations

import re

from pydantic import AfterValidator, ValidationError

HTTP_URL_MESSAGE = "must be an http:// or https:// URL of at most 2000 characters"
MAX_URL_CHARS = 2000


def matching(pattern: str | re.Pattern[str], message: str) -> AfterValidator:
    """A validator refusing text the whole of which `pattern` does not match."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(message)
        return value

    return AfterValidator(check)


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
