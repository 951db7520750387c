"""The audit chain's pure parts: the hash covers every field and the previous hash, the walk
names the first row that breaks, and the reading filter refuses bad parameters one by one."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from data.domain.audit_chain import (
    MAX_LIMIT,
    ChainedFields,
    StoredRow,
    first_break,
    parse_audit_filter,
    row_hash,
)
from data.domain.errors import Invalid

AT = datetime(2026, 12, 2, 5, 0, 0, 123456, tzinfo=UTC)
FIELDS = ChainedFields("acme", "u1", "user.create", "ana", "10.0.0.1", {"role": "admin"}, AT)
NOW_MS = int(AT.timestamp() * 1000)


def chain(n: int, tenant: str = "acme") -> list[StoredRow]:
    rows, prev = [], None
    for i in range(n):
        fields = dataclasses.replace(FIELDS, tenant_id=tenant, target=f"t{i}")
        digest = row_hash(fields, prev)
        rows.append(StoredRow(i + 1, fields, prev, digest))
        prev = digest
    return rows


@pytest.mark.parametrize(
    "change",
    [
        {"tenant_id": "other"},
        {"user_id": None},
        {"action": "user.delete"},
        {"target": "bob"},
        {"address": "10.0.0.2"},
        {"details": {"role": "viewer"}},
        {"at": AT + timedelta(microseconds=1)},
    ],
)
def test_every_field_changes_the_hash(change: dict) -> None:
    assert row_hash(dataclasses.replace(FIELDS, **change), None) != row_hash(FIELDS, None)


def test_the_hash_covers_the_previous_one_and_not_the_zone_of_the_time() -> None:
    assert row_hash(FIELDS, "a" * 64) != row_hash(FIELDS, None)
    paris = dataclasses.replace(FIELDS, at=AT.astimezone(timezone(timedelta(hours=1))))
    assert row_hash(paris, None) == row_hash(FIELDS, None)  # the same instant


def test_a_whole_chain_holds_and_each_tenant_starts_afresh() -> None:
    assert first_break(chain(3) + chain(2, "beta")) == (5, None)


def test_the_walk_names_the_first_broken_row() -> None:
    rows = chain(4)
    rows[2] = dataclasses.replace(rows[2], fields=dataclasses.replace(rows[2].fields, target="x"))
    checked, broken = first_break(rows)
    assert checked == 3 and broken is not None and broken.audit_id == 3
    assert str(broken).startswith("tenant acme, audit id 3: hash does not match")
    missing = chain(4)
    del missing[1]
    assert "deleted" in str(first_break(missing)[1])


def test_the_filter_reads_every_parameter() -> None:
    wanted = parse_audit_filter(
        {"limit": ["20"], "before": ["42"], "actor": ["ana"], "action": ["user."],
         "since": ["now-1h"], "until": ["2026-12-02T05:00:00Z"]},
        NOW_MS,
    )  # fmt: skip
    assert (wanted.limit, wanted.before, wanted.actor, wanted.action) == (20, 42, "ana", "user.")
    assert wanted.since_ms == NOW_MS - 3_600_000 and wanted.until_ms == NOW_MS - 123


def test_bad_parameters_are_each_named() -> None:
    with pytest.raises(Invalid) as caught:
        parse_audit_filter(
            {"limit": [str(MAX_LIMIT + 1)], "before": ["0"], "actor": ["a\x00"],
             "since": ["yesterday"], "action": ["a", "b"]},
            NOW_MS,
        )  # fmt: skip
    assert {d["field"] for d in caught.value.details} == {
        "limit",
        "before",
        "actor",
        "since",
        "action",
    }
