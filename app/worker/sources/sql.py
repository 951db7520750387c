"""SQL query sources: any SQLAlchemy URL, a query returning (timestamp, metric, source,
value) rows, read once thanks to a high-water mark.

The query gets the bound parameter `:since`, the largest timestamp read so far (a
timezone-aware timestamp, or epoch seconds with `since_as: epoch`; at first the start of the
raw retention window). Write `WHERE ts > :since`. The query is wrapped as
`SELECT * FROM (query) ORDER BY 1 LIMIT max_rows`; when a batch is cut by the limit, the
trailing rows sharing the last timestamp are left for the next poll, so rows are neither
lost nor read twice. Each row's data_id derives from the source and (metric, source,
timestamp), so a re-read after a crash is stored once.

On PostgreSQL the query runs in a read-only transaction under `statement_timeout` (the
source's timeout) and MySQL gets `max_execution_time`; other databases are bounded by the
worker's deadline alone. Naive timestamps are taken as UTC.

SQL sources are off unless SQL_SOURCES_ENABLED=1, and then reach only what the outbound
policy allows (data/outbound.py): never Pulse's own database server, no unix socket or
database file, no URL parameter that picks another host or a local file. Give the URL a
read-only role all the same.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from app.outbound import OutboundRefused
from app.worker.sources.base import PollContext, PollResult, SourceError, checked_point
from data.domain.source_spec import SqlConfig

log = logging.getLogger(__name__)


def poll(config: SqlConfig, state: dict[str, Any], ctx: PollContext) -> PollResult:
    """Read the rows after the high-water mark; return their points and the new mark."""
    since = _since_param(config, state, ctx)
    query = text(
        f"SELECT * FROM ({config.query.strip().rstrip(';')}) AS pulse_rows"
        " ORDER BY 1 LIMIT :pulse_limit"
    )
    engine = _checked_engine(config, ctx)
    try:
        with _connect(engine) as conn, conn.begin():
            _bound(conn, ctx.timeout_s)
            params = {"since": since, "pulse_limit": config.max_rows}
            rows = [tuple(row) for row in conn.execute(query, params)]
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
        raise SourceError(f"query failed: {type(exc).__name__}: {reason}") from None
    finally:
        engine.dispose()
    rows = _whole_timestamps(rows, config.max_rows)
    return _to_result(rows, state, ctx)


def _checked_engine(config: SqlConfig, ctx: PollContext) -> Engine:
    """An engine bound to an address the outbound policy checked (the one connected to,
    so a name re-resolving elsewhere between check and connect changes nothing)."""
    url = make_url(config.url)
    try:
        addresses = ctx.outbound.check_sql(url)
    except OutboundRefused as exc:
        raise SourceError(str(exc)) from None
    backend = url.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend in ("postgresql", "mysql", "mariadb"):
        connect_args["connect_timeout"] = max(1, round(ctx.timeout_s))
    if addresses and backend == "postgresql":
        connect_args["hostaddr"] = str(addresses[0])  # libpq keeps `host` for TLS checks
    elif addresses:
        url = url.set(host=str(addresses[0]))
    return create_engine(url, poolclass=NullPool, connect_args=connect_args)


def _connect(engine: Engine) -> Connection:
    """A connection; failing, a message that says no more than that: the driver's (refused,
    timed out, no route, no such user) would map the worker's network for a tenant."""
    try:
        return engine.connect()
    except SQLAlchemyError as exc:
        log.warning("sql source could not connect: %s", exc)
        raise SourceError("query failed: could not connect to the database") from None


def _since_param(config: SqlConfig, state: dict[str, Any], ctx: PollContext) -> Any:
    mark = state.get("since")
    if config.since_as == "epoch":
        return float(mark) if isinstance(mark, int | float) else ctx.oldest_ms / 1000
    if isinstance(mark, str):
        return datetime.fromisoformat(mark)
    if isinstance(mark, int | float):
        return datetime.fromtimestamp(mark, UTC)
    return datetime.fromtimestamp(ctx.oldest_ms / 1000, UTC)


def _bound(conn: Connection, timeout_s: float) -> None:
    """Make the database itself stop a slow query, where the dialect allows it."""
    millis = max(1, int(timeout_s * 1000))
    backend = conn.dialect.name
    if backend == "postgresql":
        conn.execute(text("SET TRANSACTION READ ONLY"))
        conn.execute(text(f"SET LOCAL statement_timeout = {millis}"))
    elif backend in ("mysql", "mariadb"):
        conn.execute(text(f"SET SESSION max_execution_time = {millis}"))


def _whole_timestamps(rows: list[tuple[Any, ...]], limit: int) -> list[tuple[Any, ...]]:
    """A batch cut by the limit, without its trailing rows of the last timestamp (the next
    poll reads them whole); a batch that is all one timestamp is kept as it is."""
    if len(rows) < limit or not rows:
        return rows
    last = rows[-1][0]
    cut = len(rows)
    while cut and rows[cut - 1][0] == last:
        cut -= 1
    return rows[:cut] if cut else rows


def _epoch_s(raw: Any) -> Any:
    if isinstance(raw, datetime):
        return (raw if raw.tzinfo else raw.replace(tzinfo=UTC)).timestamp()
    return _number(raw)


def _number(raw: Any) -> Any:
    """Decimal and other numeric types as float; anything else is left for the checks."""
    if isinstance(raw, bool | str | bytes) or not hasattr(raw, "__float__"):
        return raw
    return float(raw)


def _mark(raw: Any) -> Any:
    if isinstance(raw, datetime):
        return (raw if raw.tzinfo else raw.replace(tzinfo=UTC)).isoformat()
    return _epoch_s(raw)


def _to_result(rows: list[tuple[Any, ...]], state: dict[str, Any], ctx: PollContext) -> PollResult:
    points, skipped, notes = [], 0, []
    for row in rows:
        if len(row) < 4:
            raise SourceError(f"rows must be (timestamp, metric, source, value), not {len(row)}")
        ts, metric, source, value = row[:4]
        point, problem = checked_point(ctx, (), metric, source, _epoch_s(ts), _number(value))
        if point is None:
            skipped += 1
            notes = [f"row {metric!r}/{source!r} at {ts!r}: {problem}"][:1]
            continue
        points.append(point)
    new_state = dict(state)
    if rows:
        new_state["since"] = _mark(rows[-1][0])
    new_state["rows"] = int(state.get("rows") or 0) + len(rows)
    return PollResult(points, new_state, skipped, notes)
