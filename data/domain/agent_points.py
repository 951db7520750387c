"""What the agents' formats (Influx line protocol, Prometheus remote write) share: how a
series' tags or labels become a Pulse metric and source, and what a parse hands back.

Pulse keys a series by (metric, source) alone. One tag (label) names the source; every
other one is folded into the metric name as `.key:value`, sorted by key, so two series an
agent keeps apart never merge into one (merged series would zigzag, and a resend would be
taken for the other series' point). Agents drop tags they do not want before sending
(Telegraf `tagexclude`, Prometheus `write_relabel_configs` with `labeldrop`).
Characters a Pulse name may not hold become `_`, as Telegraf's Graphite output does. A name
over 128 characters (info metrics carry long label sets: `prometheus_build_info` with its
version, revision, branch…) keeps its first 106 and ends with `.hash:` and 16 hex digits of
the whole name: refusing it would refuse the agent's whole batch, and cutting it alone
could merge two series.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from data.domain.points import Point, Problem

UNSAFE_RE = re.compile(r"[^A-Za-z0-9_.:\-]")
MAX_NAME = 128
KEPT = MAX_NAME - len(".hash:") - 16


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
            return bounded(clean(value))
    return None


def bounded(name: str) -> str:
    """`name` if it fits in a Pulse name, else its start and a hash of the whole."""
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.blake2b(name.encode(), digest_size=8).hexdigest()
    return f"{name[:KEPT]}.hash:{digest}"
