"""The /ws client message schema (app/stream/protocol.py): parsing, refusals, patterns, cursors."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from app.stream.protocol import (
    MAX_PATTERNS,
    MessageError,
    Resume,
    Subscribe,
    Unsubscribe,
    check_pattern_total,
    compile_patterns,
    parse_client_message,
)
from data.domain.cursors import cursor_key
from data.domain.patterns import MAX_WILDCARDS


def parse(doc: Any) -> Any:
    return parse_client_message(orjson.dumps(doc))


# -- accepted messages ---------------------------------------------------------------------


def test_subscribe_defaults_sources_to_everything() -> None:
    message = parse({"type": "subscribe", "metrics": ["cpu.usage", "sales.*"]})
    assert message == Subscribe(("cpu.usage", "sales.*"), ("*",), None)


def test_subscribe_keeps_given_sources() -> None:
    message = parse({"type": "subscribe", "metrics": ["cpu.usage"], "sources": ["web-1", "db-*"]})
    assert message == Subscribe(("cpu.usage",), ("web-1", "db-*"), None)


def test_subscribe_with_cursor_resumes_atomically() -> None:
    message = parse({"type": "subscribe", "metrics": ["*"], "cursor": "1764281252123-0"})
    assert isinstance(message, Subscribe)
    assert message.cursor == "1764281252123-0"


def test_unsubscribe_names_its_metrics() -> None:
    assert parse({"type": "unsubscribe", "metrics": ["sales.*"]}) == Unsubscribe(("sales.*",))


def test_resume_carries_the_cursor() -> None:
    assert parse({"type": "resume", "cursor": "1764281252123-7"}) == Resume("1764281252123-7")


def test_text_and_bytes_are_both_read() -> None:
    text = '{"type": "resume", "cursor": "1-0"}'
    assert parse_client_message(text) == parse_client_message(text.encode()) == Resume("1-0")


def test_up_to_the_pattern_limit_is_accepted() -> None:
    metrics = [f"m{i}" for i in range(MAX_PATTERNS)]
    assert len(parse({"type": "subscribe", "metrics": metrics}).metrics) == MAX_PATTERNS


# -- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "not json", "{", "{'type': 'subscribe'}"])
def test_text_that_is_not_json_is_refused(text: str) -> None:
    with pytest.raises(MessageError, match="JSON objects"):
        parse_client_message(text)


@pytest.mark.parametrize("doc", [[], ["subscribe"], "subscribe", 1, None])
def test_json_that_is_not_an_object_is_refused(doc: Any) -> None:
    with pytest.raises(MessageError, match="JSON objects"):
        parse(doc)


@pytest.mark.parametrize("kind", [None, "ping", "SUBSCRIBE", "points", 1])
def test_unknown_type_is_refused(kind: Any) -> None:
    with pytest.raises(MessageError, match="type must be subscribe, unsubscribe or resume"):
        parse({"type": kind, "metrics": ["a"]})


@pytest.mark.parametrize(
    "metrics",
    [
        None,  # missing
        [],
        "cpu.usage",  # not a list
        [1],
        [""],
        ["has space"],
        ["slash/metric"],
        ["x" * 129],
        ["ok", None],
        [f"m{i}" for i in range(MAX_PATTERNS + 1)],
    ],
)
@pytest.mark.parametrize("kind", ["subscribe", "unsubscribe"])
def test_bad_metric_patterns_are_refused(kind: str, metrics: Any) -> None:
    doc: dict[str, Any] = {"type": kind}
    if metrics is not None:
        doc["metrics"] = metrics
    with pytest.raises(MessageError, match="metrics"):
        parse(doc)


@pytest.mark.parametrize("sources", [[], "web-1", ["bad source"], [None]])
def test_bad_source_patterns_are_refused(sources: Any) -> None:
    with pytest.raises(MessageError, match="sources"):
        parse({"type": "subscribe", "metrics": ["cpu.usage"], "sources": sources})


@pytest.mark.parametrize(
    "cursor", [None, "", "now", "123", "123-", "-1", "a-b", "1-2-3", 1764281252123, "1" * 21 + "-0"]
)
def test_bad_cursors_are_refused(cursor: Any) -> None:
    with pytest.raises(MessageError, match="cursor"):
        parse({"type": "resume", "cursor": cursor})
    with pytest.raises(MessageError, match="cursor"):
        parse({"type": "subscribe", "metrics": ["a"], "cursor": cursor})


def test_resume_without_cursor_is_refused() -> None:
    with pytest.raises(MessageError, match="cursor"):
        parse({"type": "resume"})


# -- patterns ------------------------------------------------------------------------------


def matches(patterns: list[str], name: str) -> bool:
    return compile_patterns(patterns).matches(name)


def test_prefix_wildcard_matches_names_under_the_prefix_only() -> None:
    assert matches(["sales.*"], "sales.orders")
    assert matches(["sales.*"], "sales.revenue.eu")
    assert not matches(["sales.*"], "sales")
    assert not matches(["sales.*"], "xsales.orders")
    assert not matches(["sales.*"], "salesXorders")


def test_exact_names_match_only_themselves() -> None:
    assert matches(["cpu.usage"], "cpu.usage")
    assert not matches(["cpu.usage"], "cpuXusage")  # the dot is literal
    assert not matches(["cpu.usage"], "cpu.usage.max")
    assert not matches(["cpu.usage"], "my.cpu.usage")


def test_star_alone_matches_everything() -> None:
    assert all(matches(["*"], name) for name in ("a", "cpu.usage", "x:y-z_1"))


def test_star_in_the_middle_and_several_patterns() -> None:
    patterns = ["cpu.*.max", "memory.usage"]
    assert matches(patterns, "cpu.web-1.max")
    assert matches(patterns, "memory.usage")
    assert not matches(patterns, "cpu.web-1.min")
    assert not matches(patterns, "memory.free")


def test_no_patterns_match_nothing() -> None:
    assert not matches([], "cpu.usage")
    assert not matches([], "")


def test_regex_characters_in_patterns_are_literal() -> None:
    """Only `*` is special: `.`, `-` and `:` stand for themselves."""
    assert matches(["a.b"], "a.b") and not matches(["a.b"], "aXb")
    assert matches(["a-*:b"], "a-x.y:b") and not matches(["a-*:b"], "a-x.y:bb")


# -- caps ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["subscribe", "unsubscribe"])
def test_a_pattern_with_more_than_the_wildcard_cap_is_refused_not_trimmed(kind: str) -> None:
    assert parse({"type": kind, "metrics": ["*." * MAX_WILDCARDS + "x"]}).metrics
    with pytest.raises(MessageError, match=f"more than {MAX_WILDCARDS} \\*"):
        parse({"type": kind, "metrics": ["cpu.usage", "*" * (MAX_WILDCARDS + 1)]})


def test_too_many_source_wildcards_are_refused() -> None:
    with pytest.raises(MessageError, match="sources"):
        parse({"type": "subscribe", "metrics": ["a"], "sources": ["*" * 40]})


def test_pattern_total_counts_metrics_and_sources_together() -> None:
    check_pattern_total(["m"] * (MAX_PATTERNS - 1), ["*"])
    with pytest.raises(MessageError, match=f"at most {MAX_PATTERNS}.*not {MAX_PATTERNS + 1}"):
        check_pattern_total(["m"] * MAX_PATTERNS, ["*"])


# -- cursors -------------------------------------------------------------------------------


def test_cursor_key_orders_numerically_not_as_text() -> None:
    cursors = ["1000-10", "999-5", "1000-2", "1000-0", "99-99"]
    assert sorted(cursors, key=cursor_key) == ["99-99", "999-5", "1000-0", "1000-2", "1000-10"]


def test_cursor_key_reads_both_parts() -> None:
    assert cursor_key("1764281252123-7") == (1764281252123, 7)
    assert cursor_key("0-0") == (0, 0)
    assert cursor_key("1764281252123") == (1764281252123, 0)
