"""File tails: a CSV (header `timestamp,metric,source,value`, in any order, extra columns
ignored) or JSON-lines file that another program appends to.

The state keeps the file's identity (device:inode), the byte offset read up to, the CSV
header and a generation number. Only whole lines (ending in a newline) are consumed, so a
line being written is read on a later poll. When the file was replaced (another inode) or
truncated (smaller than the offset), reading starts again from its beginning under a new
generation. A point's data_id derives from the source, the generation and the line's
offset, so a poll repeated after a crash (before its state was saved) is stored once. Lines
that are not points (bad JSON, a missing field, a time outside the accepted window) are
skipped and counted; they never block the lines after them.

Paths are relative to the tenant's own folder, SOURCE_FILES_DIR/<tenant>/, and may not
leave it (`..`, absolute paths and symlinks pointing out are refused): an admin's source
can read no other tenant's file, nor any other file of the worker host.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from app.worker.sources.base import PollContext, PollResult, SourceError, checked_point
from data.domain.source_spec import FileTailConfig

COLUMNS = ("timestamp", "metric", "source", "value")


def resolve(path: str, files_dir: Path) -> Path:
    """The file under `files_dir` (the tenant's folder) that `path` names, symlinks
    followed; SourceError when it would leave the folder. The message names the path as
    the admin wrote it, never the server's absolute paths."""
    root = files_dir.resolve()
    target = (root / path).resolve()
    if Path(path).is_absolute() or root not in target.parents:
        raise SourceError(f"path {path!r} is outside this tenant's source folder")
    return target


def poll(config: FileTailConfig, state: dict[str, Any], ctx: PollContext) -> PollResult:
    """Read the whole lines appended since the saved offset."""
    path = resolve(config.path, ctx.files_dir)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise SourceError(f"file {config.path!r} does not exist") from None
    except OSError as exc:
        raise SourceError(f"cannot open {config.path!r}: {exc.strerror}") from None
    with handle:
        return _read(handle, config, dict(state), ctx)


def _read(
    handle: BinaryIO, config: FileTailConfig, state: dict[str, Any], ctx: PollContext
) -> PollResult:
    info = os.fstat(handle.fileno())  # of the file opened, even if renamed meanwhile
    identity = f"{info.st_dev}:{info.st_ino}"
    offset = int(state.get("offset") or 0)
    if "identity" not in state:
        offset = _last_line_end(handle, info.st_size) if config.start_at == "end" else 0
    elif state["identity"] != identity or info.st_size < offset:
        state["generation"] = int(state.get("generation") or 0) + 1
        state.pop("header", None)
        offset = 0
    state["identity"] = identity
    if config.format == "csv" and "header" not in state and offset > 0:
        state["header"] = _header(_first_line(handle))
    handle.seek(offset)
    chunk = handle.read(config.max_bytes)
    end = chunk.rfind(b"\n") + 1
    if end == 0 and len(chunk) >= config.max_bytes:
        raise SourceError(f"a line at byte {offset} is longer than max_bytes={config.max_bytes}")
    result = PollResult([], state)
    position = offset
    for raw in chunk[:end].splitlines(keepends=True):
        _line(raw, position, config, state, ctx, result)
        position += len(raw)
    state["offset"] = offset + end
    state["skipped"] = int(state.get("skipped") or 0) + result.skipped
    return result


def _line(
    raw: bytes,
    at: int,
    config: FileTailConfig,
    state: dict[str, Any],
    ctx: PollContext,
    result: PollResult,
) -> None:
    """Turn one whole line into a point (or a CSV header), counting what is skipped."""
    if not raw.strip():
        return
    try:
        line = raw.decode("utf-8").rstrip("\r\n")
        if config.format == "csv" and "header" not in state:
            state["header"] = _header(line)
            return
        fields = _csv_fields(line, state["header"]) if config.format == "csv" else _json(line)
    except (UnicodeDecodeError, ValueError) as exc:
        _skip(state, result, at, str(exc))
        return
    key = (int(state.get("generation") or 0), at)
    point, problem = checked_point(
        ctx,
        key,
        fields.get("metric"),
        fields.get("source"),
        fields.get("timestamp"),
        fields.get("value"),
    )
    if point is None:
        _skip(state, result, at, problem or "not a point")
    else:
        result.points.append(point)


def _skip(state: dict[str, Any], result: PollResult, at: int, reason: str) -> None:
    result.skipped += 1
    state["last_skipped"] = f"line at byte {at}: {reason[:300]}"


def _header(line: str) -> list[str]:
    names = [name.strip().lower() for name in next(csv.reader([line]), [])]
    names = ["metric" if name == "metric_type" else name for name in names]
    missing = [column for column in COLUMNS if column not in names]
    if missing:
        raise SourceError(f"the CSV header lacks {', '.join(missing)}: {line[:200]!r}")
    return names


def _csv_fields(line: str, header: list[str]) -> dict[str, Any]:
    cells = next(csv.reader([line]), [])
    if len(cells) < len(header):
        raise ValueError(f"{len(cells)} columns where the header has {len(header)}")
    row = dict(zip(header, cells, strict=False))
    return {
        "metric": row["metric"].strip(),
        "source": row["source"].strip(),
        "timestamp": _number_or_text(row["timestamp"].strip()),
        "value": _number(row["value"].strip()),
    }


def _json(line: str) -> dict[str, Any]:
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    return {
        "metric": doc.get("metric", doc.get("metric_type")),
        "source": doc.get("source"),
        "timestamp": doc.get("timestamp"),
        "value": doc.get("value"),
    }


def _number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text  # refused by the point checks as "must be a number"


def _number_or_text(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text  # an RFC 3339 time


def _first_line(handle: BinaryIO) -> str:
    handle.seek(0)
    return handle.readline(64 * 1024).decode("utf-8", errors="replace").rstrip("\r\n")


def _last_line_end(handle: BinaryIO, size: int) -> int:
    """The offset just past the file's last newline (where `start_at: end` begins)."""
    start = max(0, size - 64 * 1024)
    handle.seek(start)
    tail = handle.read(size - start)
    return start + tail.rfind(b"\n") + 1
