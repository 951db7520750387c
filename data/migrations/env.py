"""Alembic environment: migrates the connection handed over by data.stores.db, or DATABASE_URL."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, create_engine

from data.stores.partitions import include_name
from data.stores.schema import metadata
from data.stores.schema_accounts import api_keys  # noqa: F401  (its tables on metadata)
from data.stores.schema_embeds import embed_tokens  # noqa: F401  (its table on metadata)
from data.stores.schema_homes import tenant_homes  # noqa: F401  (its table on metadata)
from data.stores.schema_invites import invites  # noqa: F401  (its tables on metadata)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(os.environ["DATABASE_URL"])
    with engine.connect() as conn:
        _run(conn)
