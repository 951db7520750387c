"""The whole relational data model, as SQLAlchemy Core tables; migrations mirror it."""

from __future__ import annotations

import uuid

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

JSONDoc = JSON().with_variant(JSONB(), "postgresql")


def is_uuid(value: str) -> bool:
    """Whether `value` is a UUID: row ids are, so anything else cannot name a row."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


ROLES = ("viewer", "analyst", "admin")


def tenant_fk() -> Column:
    return Column(
        "tenant_id", String(64), ForeignKey("tenants.tenant_id", ondelete="CASCADE"), nullable=False
    )


def created_at() -> Column:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


tenants = Table(
    "tenants",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    # The organisation's defaults (theme, timezone, default_range) under each user's own.
    Column("preferences", JSONDoc, nullable=False, server_default=text("'{}'")),
    created_at(),
)

users = Table(
    "users",
    metadata,
    Column("user_id", String(36), primary_key=True),
    tenant_fk(),
    Column("username", String(64), nullable=False),
    Column("email", String(254), nullable=False),
    Column("role", String(16), nullable=False),
    Column("preferences", JSONDoc, nullable=False, server_default=text("'{}'")),
    Column("password_hash", Text, nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    created_at(),
    Column("last_login_at", DateTime(timezone=True)),
    # null while a link mailed to `email` is unopened (data/stores/email_verifications.py);
    # set on insert: invited, CLI-made and SMTP-less users count as verified
    Column("email_verified_at", DateTime(timezone=True), server_default=func.now()),
    CheckConstraint("role IN ('viewer', 'analyst', 'admin')", name="role"),
    Index("uq_users_username", "username", unique=True),
    Index("ix_users_tenant", "tenant_id"),
)

sources = Table(
    "sources",
    metadata,
    Column("source_id", String(36), primary_key=True),
    tenant_fk(),
    Column("name", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("config", JSONDoc, nullable=False, server_default=text("'{}'")),
    Column("interval_s", Float, nullable=False, server_default=text("1")),
    Column("timeout_s", Float, nullable=False, server_default=text("10")),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("state", JSONDoc, nullable=False, server_default=text("'{}'")),
    Column("last_success_at", DateTime(timezone=True)),
    Column("last_error_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("consecutive_failures", Integer, nullable=False, server_default=text("0")),
    created_at(),
    Index("uq_sources_tenant_name", "tenant_id", "name", unique=True),
)

# One row per accepted point. (tenant_id, metric_type, source, ts, data_id) is unique where a
# client gave the data_id, which makes its resends harmless (a unique index of a partitioned
# table must hold the partition key; a resend has its series and ts). A point sent without
# one is stored with data_id '' and only the series index below: redelivery is caught per
# ingest entry (ingest_entries), so no point needs a uniqueness check of its own.
# Partitioned by day (data/stores/partitions.py), so that retention drops whole partitions.
points = Table(
    "points",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("data_id", String(64), nullable=False),
    Column("source", String(128), nullable=False),
    Column("metric_type", String(128), nullable=False),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("value", Float(precision=53), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index(
        "uq_points_series_ts_data_id",
        *("tenant_id", "metric_type", "source", "ts", "data_id"),
        unique=True,
        postgresql_where=text("data_id <> ''"),
    ),
    # Reads of a series over time (the raw tier: up to 6 h at step=auto, 2 days explicit)
    # need a btree on the series: without it a read scans every tenant's points of the range.
    # Not unique, so a point without a data_id is not checked against its neighbours; partial,
    # so each point has one btree entry (a keyed point's is in the unique index above, whose
    # leading columns are these): reads go through RAW_POINTS, which uses both.
    Index(
        "ix_points_series_ts",
        *("tenant_id", "metric_type", "source", "ts"),
        postgresql_where=text("data_id = ''"),
    ),
    Index("ix_points_ts_brin", "ts", postgresql_using="brin"),
    postgresql_partition_by="RANGE (ts)",
)

# The raw points as reads of a series over time select them: each half can use its partial
# index (the planner pushes the reader's WHERE into both), which `FROM points` could not.
RAW_POINTS = """(
    SELECT tenant_id, metric_type, source, ts, value FROM points WHERE data_id = ''
    UNION ALL
    SELECT tenant_id, metric_type, source, ts, value FROM points WHERE data_id <> ''
) AS raw_points"""


# The books of the writers (see data/stores/accounting.py): one row per ingest entry, written in
# the transaction that stores its points, and the per-minute sums of those rows. The key
# makes a redelivered entry keep its first delivery's counts.
ingest_entries = Table(
    "ingest_entries",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("entry_id", String(41), primary_key=True),
    Column("accepted_at", DateTime(timezone=True), nullable=False),
    Column("points", Integer, nullable=False),
    Column("stored", Integer, nullable=False),
    Column("duplicates", Integer, nullable=False),
    Column("written_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_ingest_entries_accepted_at_brin", "accepted_at", postgresql_using="brin"),
)

ingest_minutes = Table(
    "ingest_minutes",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("minute", DateTime(timezone=True), primary_key=True),
    Column("entries", BigInteger, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("stored", BigInteger, nullable=False),
    Column("duplicates", BigInteger, nullable=False),
)


def _rollup(name: str) -> Table:
    """A rollup tier, partitioned by month of its bucket (data/stores/partitions.py)."""
    return Table(
        name,
        metadata,
        Column("tenant_id", String(64), primary_key=True),
        Column("metric_type", String(128), primary_key=True),
        Column("source", String(128), primary_key=True),
        Column("bucket", DateTime(timezone=True), primary_key=True),
        Column("count", BigInteger, nullable=False),
        Column("sum", Float(precision=53), nullable=False),
        Column("min", Float(precision=53), nullable=False),
        Column("max", Float(precision=53), nullable=False),
        Column("last", Float(precision=53), nullable=False),
        Column("last_ts", DateTime(timezone=True), nullable=False),
        Index(f"ix_{name}_bucket_brin", "bucket", postgresql_using="brin"),
        postgresql_partition_by="RANGE (bucket)",
    )


rollup_1m = _rollup("rollup_1m")
rollup_1h = _rollup("rollup_1h")

visualizations = Table(
    "visualizations",
    metadata,
    Column("visualization_id", String(36), primary_key=True),
    tenant_fk(),
    Column("user_id", String(36), ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False),
    Column("dashboard_id", String(36)),
    Column("metric_type", String(128), nullable=False),
    Column("chart_type", String(32), nullable=False),
    Column("options", JSONDoc, nullable=False, server_default=text("'{}'")),
    Column("layout", JSONDoc, nullable=False, server_default=text("'{}'")),
    Column("last_updated", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_visualizations_user", "tenant_id", "user_id"),
)

alert_rules = Table(
    "alert_rules",
    metadata,
    Column("rule_id", String(36), primary_key=True),
    tenant_fk(),
    Column("name", String(200), nullable=False),
    Column("metric", String(128), nullable=False),
    Column("source", String(128), nullable=False, server_default=text("'*'")),
    Column("kind", String(16), nullable=False),
    Column("params", JSONDoc, nullable=False, server_default=text("'{}'")),
    Column("severity", String(16), nullable=False),
    Column("cooldown_s", Integer, nullable=False, server_default=text("300")),
    Column("channels", JSONDoc, nullable=False, server_default=text("'[\"in_app\"]'")),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("silenced_until", DateTime(timezone=True)),
    Column("created_by", String(36), ForeignKey("users.user_id", ondelete="SET NULL")),
    created_at(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("webhook_secret", String(64)),  # signs the rule's webhook bodies (HMAC-SHA256)
    CheckConstraint(
        "kind IN ('threshold', 'rate', 'spike', 'nodata', 'forecast_band')", name="kind"
    ),
    Index("ix_alert_rules_metric", "tenant_id", "metric"),
)

# An incident is one firing of a rule on one series; the key makes a restart harmless.
incidents = Table(
    "incidents",
    metadata,
    Column("incident_id", String(36), primary_key=True),
    tenant_fk(),
    Column(
        "rule_id", String(36), ForeignKey("alert_rules.rule_id", ondelete="CASCADE"), nullable=False
    ),
    Column("incident_key", String(300), nullable=False),
    Column("source", String(128), nullable=False),
    Column("state", String(16), nullable=False),
    Column("value", Float(precision=53)),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
    Column("acknowledged_by", String(36)),
    Column("acknowledged_at", DateTime(timezone=True)),
    Column("metric", String(128)),
    # value: a value rule's breach; nodata: a silent series; source_down: a source.down event
    Column("cause", String(16), nullable=False, server_default=text("'value'")),
    Column("severity", String(16)),
    Column("message", Text),
    Column("resolved_value", Float(precision=53)),
    Index("uq_incidents_key", "incident_key", unique=True),
    Index("ix_incidents_rule", "tenant_id", "rule_id", "started_at"),
    # at most one open incident per rule and series, whatever keys a lost state invents
    Index(
        "uq_incidents_open",
        "rule_id",
        "cause",
        "metric",
        "source",
        unique=True,
        postgresql_where=text("state = 'firing'"),
    ),
)

# The outbound queue: one row per incident state, channel and target, so that a worker
# restart can never send the same webhook or e-mail twice; its status is visible per incident.
alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("delivery_id", String(36), primary_key=True),
    tenant_fk(),
    Column(
        "incident_id",
        String(36),
        ForeignKey("incidents.incident_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("state", String(16), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("target", String(2000), nullable=False),
    Column("payload", JSONDoc, nullable=False),
    Column("status", String(16), nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_error", Text),
    Column("sent_at", DateTime(timezone=True)),
    created_at(),
    CheckConstraint("channel IN ('webhook', 'email')", name="channel"),
    Index("uq_alert_deliveries_once", "incident_id", "state", "channel", "target", unique=True),
    Index("ix_alert_deliveries_due", "status", "next_attempt_at"),
)

notifications = Table(
    "notifications",
    metadata,
    Column("notification_id", String(36), primary_key=True),
    tenant_fk(),
    Column("user_id", String(36), ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False),
    Column("rule_id", String(36)),
    Column("incident_id", String(36)),
    Column("message", Text, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("metric", String(128)),
    Column("source", String(128)),
    Column("value", Float(precision=53)),
    Column("timestamp", DateTime(timezone=True), nullable=False),
    Column("read", Boolean, nullable=False, server_default=text("false")),
    Index("ix_notifications_user", "tenant_id", "user_id", "read", "timestamp"),
    Index("uq_notifications_incident_state_user", "incident_id", "state", "user_id", unique=True),
)

# A dashboard (CONTRACT.md §6): its document (data/domain/dashboards.py) as JSON of its
# schema_version, migrated on load; `version` counts saves, so a stale save is refused. The
# owner may leave: their shared dashboards stay, then only admins edit them. The title is
# kept beside the document for listing and search.
dashboards = Table(
    "dashboards",
    metadata,
    Column("dashboard_id", String(36), primary_key=True),
    tenant_fk(),
    Column("owner_id", String(36), ForeignKey("users.user_id", ondelete="SET NULL")),
    Column("title", String(200), nullable=False),
    Column("shared", Boolean, nullable=False, server_default=text("false")),
    Column("schema_version", Integer, nullable=False),
    Column("doc", JSONDoc, nullable=False),
    Column("version", Integer, nullable=False, server_default=text("1")),
    # the one generated for the tenant: every user's home until they choose their own
    Column("tenant_home", Boolean, nullable=False, server_default=text("false")),
    created_at(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_by", String(36)),
    Index("ix_dashboards_tenant_owner", "tenant_id", "owner_id"),
    Index("ix_dashboards_tenant_shared", "tenant_id", "shared"),
    Index(
        "uq_dashboards_tenant_home", "tenant_id", unique=True, postgresql_where=text("tenant_home")
    ),
)

# A user's own view of a dashboard they see (time range, filters, collapsed widgets): kept
# for them alone, the dashboard itself unchanged.
dashboard_views = Table(
    "dashboard_views",
    metadata,
    Column(
        "user_id", String(36), ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True
    ),
    Column(
        "dashboard_id",
        String(36),
        ForeignKey("dashboards.dashboard_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    tenant_fk(),
    Column("view", JSONDoc, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# The dashboard a user chose as their home (`/`); none: the tenant's generated one.
dashboard_homes = Table(
    "dashboard_homes",
    metadata,
    Column(
        "user_id", String(36), ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True
    ),
    tenant_fk(),
    Column(
        "dashboard_id",
        String(36),
        ForeignKey("dashboards.dashboard_id", ondelete="CASCADE"),
        nullable=False,
    ),
)
