"""Domain refusals (data/domain/errors.py) become the contract's answers in one place
(app/errors.py)."""

from __future__ import annotations

from app.errors import domain_response
from data.domain.data_query import QueryError
from data.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    QuotaExceeded,
    Unreadable,
)
from data.domain.points import BodyError
from data.views.export_xlsx import TooManyRows

TWO = [{"field": "metric", "message": "is required"}, {"field": "kind", "message": "unknown"}]


def answer(err: DomainError) -> tuple[int, str, str, list]:
    got = domain_response(err)
    return got.status, got.code, got.message, got.details


def test_a_refused_definition_is_a_422_counting_its_problems() -> None:
    assert answer(Invalid(TWO, "rule")) == (422, "invalid_rule", "2 problem(s)", TWO)
    assert answer(Invalid(TWO, "source")) == (422, "invalid_source", "2 problem(s)", TWO)
    assert answer(Invalid(TWO[:1], "silence")) == (422, "invalid_silence", "1 problem(s)", TWO[:1])


def test_a_refused_query_is_a_422_naming_its_problems() -> None:
    message = "metric: is required; kind: unknown"
    assert answer(QueryError(TWO)) == (422, "invalid_query", message, TWO)
    assert str(QueryError(TWO)) == message  # what a page shows


def test_too_many_rows_keeps_its_own_code_and_message() -> None:
    err = TooManyRows(TWO)
    err.args = ("2 series over Excel's rows",)
    assert answer(err) == (422, "too_many_rows", "2 series over Excel's rows", TWO)
    assert isinstance(err, QueryError)  # a page still treats it as a query to change


def test_missing_taken_full_and_unreadable_have_their_statuses() -> None:
    assert answer(NotFound("alert rule")) == (404, "not_found", "no such alert rule", [])
    assert answer(Conflict("a source named 'x' exists", "name_taken"))[:2] == (409, "name_taken")
    full = QuotaExceeded("a tenant may have at most 50 sources", "too_many_sources")
    assert answer(full) == (409, "too_many_sources", "a tenant may have at most 50 sources", [])
    assert answer(Unreadable("the body must be a JSON object"))[:2] == (400, "invalid_body")
    assert answer(BodyError("body is not valid JSON"))[:3] == (
        400,
        "invalid_body",
        "body is not valid JSON",
    )


def test_a_forbidden_change_is_a_403() -> None:
    err = Forbidden("only the owner or an admin changes a shared dashboard")
    assert answer(err) == (403, "forbidden", err.message, [])
