"""What every source kind shares: the poll context and result, point making, HTTP fetches."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from app.outbound import OutboundRefused, outbound_session
from data.domain.points import NAME_RE, Point, validate_points
from data.outbound import OutboundPolicy

MAX_RESPONSE_BYTES = 20 * 1024 * 1024
_BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.:\-]")


class SourceError(Exception):
    """A poll that failed for a reason worth showing the admin as the source's last error."""


@dataclass(frozen=True, slots=True)
class PollContext:
    """Who is polled and when: passed to every kind's poll function."""

    source_id: str
    tenant_id: str
    name: str
    now_ms: int
    oldest_ms: int  # points older than this are refused, as at ingest
    timeout_s: float
    files_dir: Path = Path("var/sources")  # this tenant's own folder of file_tail files
    outbound: OutboundPolicy = OutboundPolicy()  # nothing opened: public addresses only


@dataclass(slots=True)
class PollResult:
    """The points of one poll and the state the next poll starts from."""

    points: list[Point]
    state: dict[str, Any]
    skipped: int = 0  # rows or lines refused (bad values, outside the accepted time window)
    notes: list[str] = field(default_factory=list)


def stable_id(*parts: object) -> str:
    """A data_id derived from what identifies a row, so a re-poll of it is stored once."""
    text = "\x1f".join(str(part) for part in parts)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def sanitise(name: str) -> str:
    """A metric or source name in the allowed charset: other characters become `_`, and
    it is cut to 128 characters."""
    cleaned = _BAD_NAME_CHARS.sub("_", name)[:128]
    return cleaned if NAME_RE.fullmatch(cleaned) else "_"


def checked_point(
    ctx: PollContext, key: tuple[object, ...], metric: Any, source: Any, timestamp: Any, value: Any
) -> tuple[Point | None, str | None]:
    """A point held to the same rules as HTTP ingest, or the reason it was refused. Its
    data_id is derived from the source, `key` (what else identifies the row) and the series
    and time, so polling the same row again is stored once."""
    item = {
        "source": source,
        "metric_type": metric,
        "timestamp": timestamp,
        "value": value,
    }
    valid, problems = validate_points([item], ctx.now_ms, ctx.oldest_ms)
    if not valid:
        return None, "; ".join(f"{p.field} {p.message}" for p in problems)
    point = valid[0]
    data_id = stable_id(ctx.source_id, *key, point.metric, point.source, point.ts_ms)
    return point._replace(data_id=data_id), None


def fetch(url: str, headers: dict[str, str], ctx: PollContext, accept: str) -> bytes:
    """GET `url` where the outbound policy allows, failing on a non-2xx answer or a body
    over MAX_RESPONSE_BYTES. Errors name the host only: the URL may carry a token, and the
    answer's body is never echoed (it may be anything the target chose to say)."""
    host = urlsplit(url).hostname or "?"
    try:
        with (
            outbound_session(ctx.outbound) as session,
            session.get(
                url,
                headers={"Accept": accept, "User-Agent": "pulse-source/1", **headers},
                timeout=(ctx.timeout_s, ctx.timeout_s),
                stream=True,
                allow_redirects=False,
            ) as resp,
        ):
            if not 200 <= resp.status_code < 300:
                raise SourceError(f"HTTP {resp.status_code} from {host}")
            return _read_capped(resp)
    except OutboundRefused as exc:
        raise SourceError(str(exc)) from None
    except requests.Timeout:
        raise SourceError(f"no answer from {host} within {ctx.timeout_s:g}s") from None
    except requests.RequestException as exc:
        raise SourceError(f"cannot reach {host}: {type(exc).__name__}") from None


def _read_capped(resp: requests.Response) -> bytes:
    chunks, size = [], 0
    for chunk in resp.iter_content(64 * 1024):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise SourceError(f"response over {MAX_RESPONSE_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
