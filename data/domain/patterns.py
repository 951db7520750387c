"""Subscribe and filter globs (`*` matches any run of characters), matched in linear time.

Why not a regex: `*` compiled to `.*` makes `fullmatch` backtrack, and a pattern of a few
dozen `*` against a name that does not match takes exponential time on the event loop
(issue 10). Here a glob is split on `*` into literal parts: the first must start the name,
the last must end it, and the middle ones are found left to right with `str.find`, each
at its earliest place. Taking the earliest place is always right for a glob (a later one
leaves less room to the rest), so nothing is ever retried: a match costs at most one pass
over the name per part.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

MAX_WILDCARDS = 8  # `*` in one pattern: more is refused, never silently trimmed
_STARS = re.compile(r"\*+")


@dataclass(frozen=True, slots=True)
class Glob:
    """One pattern as its literal parts: `head*middle*…*tail`, or an exact name."""

    head: str
    middle: tuple[str, ...]
    tail: str
    exact: bool  # no `*` at all

    @classmethod
    def parse(cls, pattern: str) -> Glob:
        """The glob of `pattern`; consecutive `*` are one."""
        parts = _STARS.sub("*", pattern).split("*")
        if len(parts) == 1:
            return cls(pattern, (), "", True)
        return cls(parts[0], tuple(p for p in parts[1:-1] if p), parts[-1], False)

    def matches(self, name: str) -> bool:
        """Whether the whole of `name` matches the glob."""
        if self.exact:
            return name == self.head
        if len(name) < len(self.head) + len(self.tail):
            return False
        if not (name.startswith(self.head) and name.endswith(self.tail)):
            return False
        position, end = len(self.head), len(name) - len(self.tail)
        for part in self.middle:
            found = name.find(part, position, end)
            if found < 0:
                return False
            position = found + len(part)
        return True


class PatternSet:
    """Any of several globs; exact names and plain prefixes are checked without a loop."""

    def __init__(self, patterns: Iterable[str]) -> None:
        globs = [Glob.parse(p) for p in dict.fromkeys(patterns)]
        self.everything = any(not g.exact and not (g.head or g.middle or g.tail) for g in globs)
        self._exact = frozenset(g.head for g in globs if g.exact)
        self._prefixes = tuple(g.head for g in globs if _is_prefix(g))
        self._others = tuple(g for g in globs if not g.exact and not _is_prefix(g))

    def matches(self, name: str) -> bool:
        """Whether `name` matches one of the patterns."""
        if self.everything or name in self._exact:
            return True
        if self._prefixes and name.startswith(self._prefixes):
            return True
        return any(g.matches(name) for g in self._others)


def _is_prefix(glob: Glob) -> bool:
    return not glob.exact and not glob.middle and not glob.tail


def wildcards(pattern: str) -> int:
    """How many `*` the pattern holds (what MAX_WILDCARDS caps)."""
    return pattern.count("*")
