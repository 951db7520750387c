"""Domain refusals: raised anywhere below a request, turned into responses in app/errors.py.

Each carries what the contract's error body needs (a machine code, a message, per-field
details) but nothing of HTTP: the status belongs to the one place that renders them."""

from __future__ import annotations

from typing import Any

Detail = dict[str, Any]


class DomainError(Exception):
    """A refusal the caller can act on: `code` names it, `message` says it to a person."""

    code = "refused"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        # read from args, so a subclass that rewrites args (TooManyRows) is shown as it says
        return str(self.args[0]) if self.args else ""


class Invalid(DomainError, ValueError):
    """A definition or query with per-field problems: one {"field", "message"} each.

    `subject` names what was checked (rule, source, query): the code is `invalid_<subject>`.
    The message defaults to the problems joined, which is what a page shows."""

    def __init__(
        self, details: list[Detail], subject: str = "body", message: str | None = None
    ) -> None:
        joined = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        super().__init__(joined if message is None else message, f"invalid_{subject}")
        self.details = details
        self.subject = subject

    @classmethod
    def field(cls, field: str, message: str, subject: str = "body") -> Invalid:
        """One problem with one field."""
        return cls([{"field": field, "message": message}], subject)


class Unreadable(DomainError, ValueError):
    """The request as a whole cannot be read (not JSON, not the shape asked for)."""

    code = "invalid_body"


class NotFound(DomainError, LookupError):
    """No such thing for this caller (another tenant's looks the same: not found)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"no such {what}", "not_found")
        self.what = what


class Forbidden(DomainError):
    """The caller sees the thing but may not do this to it (a viewer sharing a dashboard,
    an analyst changing another's shared one)."""

    code = "forbidden"


class Conflict(DomainError):
    """The change clashes with what is stored (a taken name, a stale version)."""


class QuotaExceeded(DomainError):
    """The tenant already has as many of these as it may have."""
