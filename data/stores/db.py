"""Engine creation and start-up migrations for the PostgreSQL history store."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text

MIGRATIONS = Path(__file__).parent.parent / "migrations"  # data/migrations
# Any constant will do: it only keeps two roles starting together from migrating at once.
_MIGRATION_LOCK = 0x50554C5345


def make_engine(
    url: str,
    pool_size: int = 5,
    statement_timeout_ms: int | None = None,
    connect_timeout_s: int | None = None,
) -> Engine:
    """A pooled engine for `url` that notices connections dropped by a restarted server; with
    `statement_timeout_ms`, PostgreSQL cancels any statement of it running longer; with
    `connect_timeout_s`, a server that does not answer fails a connect that soon."""
    connect_args: dict[str, object] = {}
    if connect_timeout_s is not None:
        connect_args["connect_timeout"] = connect_timeout_s
    if statement_timeout_ms is not None:
        connect_args["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
    return create_engine(
        url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True, connect_args=connect_args
    )


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision, safely from several processes at once."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def ping(engine: Engine) -> None:
    """Raise unless PostgreSQL answers a trivial query."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
