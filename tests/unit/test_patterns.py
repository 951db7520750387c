"""Subscribe and filter globs (data/domain/patterns.py): fnmatch's meaning, in linear time."""

from __future__ import annotations

import threading
from fnmatch import fnmatchcase

from hypothesis import example, given
from hypothesis import strategies as st

from data.domain.patterns import Glob, PatternSet, wildcards

# A small alphabet makes near-misses (and so any backtracking) common; `.` is there to show
# that `*` crosses it, and `*` is the only character a pattern treats specially.
NAME_CHARS = "ab.-"
names = st.text(NAME_CHARS, max_size=12)
patterns = st.text(NAME_CHARS + "*", min_size=1, max_size=10)


@given(patterns, names)
@example("a*a*b", "aaab")
@example("**", "")
@example("a*", "a")
@example("*a*a", "a")
def test_glob_agrees_with_fnmatchcase(pattern: str, name: str) -> None:
    assert Glob.parse(pattern).matches(name) == fnmatchcase(name, pattern)


@given(st.lists(patterns, max_size=5), names)
def test_a_set_matches_when_any_of_its_patterns_does(group: list[str], name: str) -> None:
    assert PatternSet(group).matches(name) == any(fnmatchcase(name, p) for p in group)


def test_contract_examples() -> None:
    """`cpu.usage` is exact (the dot too), `sales.*` covers dotted names, `*` everything."""
    assert PatternSet(["cpu.usage"]).matches("cpu.usage")
    assert not PatternSet(["cpu.usage"]).matches("cpuXusage")
    assert PatternSet(["sales.*"]).matches("sales.revenue.eu")
    assert not PatternSet(["sales.*"]).matches("sales")
    assert PatternSet(["*"]).matches("")
    assert not PatternSet([]).matches("cpu.usage")


def test_consecutive_stars_are_one() -> None:
    assert Glob.parse("a***b**") == Glob.parse("a*b*")


def test_forty_wildcards_against_long_names_return_at_once() -> None:
    """The issue's stall: many `*` and a name that almost matches. A regex backtracks for
    longer than the age of the universe here; the glob answers in one pass per part."""
    stars = "*" * 40
    spread = "*".join("a" * 40) + "*b"  # 40 parts, then a `b` that no name has
    long_names = ["a" * 5_000, "demo.web-1.cpu.usage.p99" * 200, "a." * 2_500]
    answers: list[bool] = []

    def match_all() -> None:
        for pattern in (stars + "b", spread, "*a" * 40 + "*b"):
            answers.extend(PatternSet([pattern]).matches(name) for name in long_names)

    worker = threading.Thread(target=match_all, daemon=True)
    worker.start()
    worker.join(timeout=30)  # generous: the whole loop takes milliseconds
    assert not worker.is_alive(), "matching stalled"
    assert answers == [False] * 9


def test_wildcards_counts_every_star() -> None:
    assert wildcards("cpu.usage") == 0
    assert wildcards("a**b*") == 3
