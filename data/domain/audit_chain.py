"""The audit log's tamper evidence and its reading (CONTRACT.md §8 Audit), as pure functions.

Each row's `hash` is sha256 over a canonical encoding of its own fields and `prev_hash`, the
hash of the tenant's row before it (None for a tenant's first row). Editing a row changes
its hash; deleting or reordering rows breaks the link of the row after. What no chain can
show is the removal of a tenant's newest rows: keep an export (or the last hash) elsewhere
for that. The encoding is a JSON array, so no two different rows encode alike.

Reading: `AuditFilter` is what GET /api/audit, its CSV export and the admin page accept.
`before` is an opaque cursor: the `next` of the previous page (rows are numbered as they are
appended, so a page never skips or repeats a row that arrives while paging).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from data.domain.data_query import parse_time_ms
from data.domain.errors import Detail, Invalid

ENCODING_VERSION = "pulse-audit-1"  # first element of every encoding: a new one can coexist
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_ACTOR = 64
MAX_ACTION = 64
CURSOR_RE = re.compile(r"[1-9][0-9]{0,18}")
TIME_HELP = "RFC 3339 with a zone, epoch seconds, or relative: now-1h, now-7d"


@dataclass(frozen=True, slots=True)
class ChainedFields:
    """What a row's hash covers, as the database gives the row back."""

    tenant_id: str
    user_id: str | None
    action: str
    target: str | None
    address: str | None
    details: Mapping[str, Any]
    at: datetime


def utc_text(at: datetime) -> str:
    """`at` as UTC with microseconds (PostgreSQL's precision): one text per instant."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def row_hash(fields: ChainedFields, prev_hash: str | None) -> str:
    """The hex sha256 of the row's canonical encoding chained to `prev_hash`."""
    encoded = json.dumps(
        [
            ENCODING_VERSION,
            fields.tenant_id,
            fields.user_id,
            fields.action,
            fields.target,
            fields.address,
            fields.details,
            utc_text(fields.at),
            prev_hash,
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    )
    return hashlib.sha256(encoded.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredRow:
    """One audit row as verification reads it."""

    audit_id: int
    fields: ChainedFields
    prev_hash: str | None
    hash: str | None


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first row of a tenant whose chain does not hold, and why."""

    tenant_id: str
    audit_id: int
    problem: str

    def __str__(self) -> str:
        return f"tenant {self.tenant_id}, audit id {self.audit_id}: {self.problem}"


def first_break(rows: Iterable[StoredRow]) -> tuple[int, ChainBreak | None]:
    """Walk rows ordered by (tenant, audit id): how many were checked, and the first break."""
    checked = 0
    tenant: str | None = None
    expected_prev: str | None = None
    for row in rows:
        if row.fields.tenant_id != tenant:
            tenant, expected_prev = row.fields.tenant_id, None
        checked += 1
        problem = _problem(row, expected_prev)
        if problem is not None:
            return checked, ChainBreak(row.fields.tenant_id, row.audit_id, problem)
        expected_prev = row.hash
    return checked, None


def _problem(row: StoredRow, expected_prev: str | None) -> str | None:
    if row.hash is None:
        return "no hash: the row was written around the audit log's writer"
    if row.prev_hash != expected_prev:
        if expected_prev is None:
            return "prev_hash names a row that is missing: the tenant's first rows were deleted"
        return "prev_hash is not the previous row's hash: a row before it was deleted or moved"
    if row_hash(row.fields, row.prev_hash) != row.hash:
        return "hash does not match the row's fields: the row was edited"
    return None


# -- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which events to read, newest first: `before` an audit id (exclusive), times in ms."""

    limit: int = DEFAULT_LIMIT
    before: int | None = None
    actor: str | None = None
    action: str | None = None  # a prefix: `user.` matches user.create, user.update…
    since_ms: int | None = None  # inclusive
    until_ms: int | None = None  # exclusive


def cursor_of(audit_id: int) -> str:
    """The `before` that continues after this row."""
    return str(audit_id)


def parse_audit_filter(args: Mapping[str, Sequence[str]], now_ms: int) -> AuditFilter:
    """The filter of query parameters (each a list of values); Invalid lists every problem."""
    problems: list[Detail] = []

    def one(name: str) -> str | None:
        values = args.get(name) or []
        if len(values) > 1:
            problems.append({"field": name, "message": "give it at most once"})
        value = values[0].strip() if values else ""
        return value or None

    limit = _limit(one("limit"), problems)
    before = one("before")
    if "before" in args and not CURSOR_RE.fullmatch(before or ""):  # empty too: not a cursor
        problems.append({"field": "before", "message": "must be the `next` of a previous page"})
    actor, action = one("actor"), one("action")
    for name, value, most in (("actor", actor, MAX_ACTOR), ("action", action, MAX_ACTION)):
        if value is not None and (len(value) > most or not value.isprintable()):
            problems.append({"field": name, "message": f"at most {most} printable characters"})
    since_ms, until_ms = (_time(name, one(name), now_ms, problems) for name in ("since", "until"))
    if since_ms is not None and until_ms is not None and since_ms >= until_ms:
        problems.append({"field": "until", "message": "must be after since"})
    if problems:
        raise Invalid(problems, "query")
    return AuditFilter(limit, int(before) if before else None, actor, action, since_ms, until_ms)


def _limit(raw: str | None, problems: list[Detail]) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if raw.isdigit() and 1 <= int(raw) <= MAX_LIMIT:
        return int(raw)
    problems.append({"field": "limit", "message": f"must be a whole number 1-{MAX_LIMIT}"})
    return DEFAULT_LIMIT


def _time(name: str, raw: str | None, now_ms: int, problems: list[Detail]) -> int | None:
    if raw is None:
        return None
    ts_ms = parse_time_ms(raw, now_ms)
    if ts_ms is None:
        problems.append({"field": name, "message": f"must be a time: {TIME_HELP}"})
    return ts_ms
