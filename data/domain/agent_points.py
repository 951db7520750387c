"""What the agents' formats (Influx line protocol, Prometheus remote write) share: how a
series' tags or labels become a Pulse metric and source, and what a parse hands back.

Pulse keys a series by (metric, source) alone. One tag (label) names the source; every
other one is folded into the metric name as `.key:value`, sorted by key, so two series an
agent keeps apart never merge into one (merged series would zigzag, and a resend would be
taken for the other series' point). Agents drop tags they do not want before sending
(Telegraf `tagexclude`, Prometheus `write_relabel_configs` with `labeldrop`).
Characters a Pulse name may not hold become `_`, as Telegraf's Graphite output does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from data.domain.points import NAME_RE, Point, Problem

UNSAFE_RE = re.compile(r"[^A-Za-z0-9_.:\-]")
NAME_MESSAGE = "is over 128 characters once its tags are folded in"


@dataclass(slots=True)
class Parsed:
    """The points of a request in an agent's format, the problems of its bad lines (series),
    and how many values were skipped as not storable (strings, NaN and stale markers)."""

    points: list[Point] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: int = 0


def clean(name: str) -> str:
    """`name` with every character a Pulse name may not hold replaced by `_`."""
    return UNSAFE_RE.sub("_", name)


def folded(tags: Iterable[tuple[str, str]]) -> str:
    """The suffix the tags add to a metric name: `.key:value` for each, sorted by key."""
    return "".join(f".{clean(k)}:{clean(v)}" for k, v in sorted(tags))


def pick_source(tags: dict[str, str], keys: tuple[str, ...]) -> str | None:
    """Remove and return the first non-empty tag of `keys` (None: there is none)."""
    for key in keys:
        value = tags.get(key)
        if value:
            del tags[key]
            return clean(value)
    return None


def name_ok(name: str) -> bool:
    """Whether a folded, cleaned name is a valid Pulse name (it may only be too long)."""
    return NAME_RE.fullmatch(name) is not None
