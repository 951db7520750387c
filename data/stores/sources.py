"""Sources the worker polls: CRUD per tenant and health (their definition per kind is
data/domain/source_spec.py).

A source row holds what an admin configured (`kind`, `config`, `interval_s`, `timeout_s`,
`enabled`), what the poller carries from one run to the next (`state`: offsets, high-water
marks, previous counter samples) and its health (`last_success_at`, `last_error_at`,
`last_error`, `consecutive_failures`). A source is *down* once `DOWN_AFTER` polls in a row
have failed: one timeout is a blip, three in a row is an outage worth an alert.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError

from data.domain import source_spec
from data.domain.errors import Conflict, Invalid, QuotaExceeded
from data.domain.source_spec import KINDS, SourceSpec, _Config
from data.domain.timefmt import iso_datetime
from data.domain.url_secrets import MaskedCredential, mask_url, unmask_url
from data.outbound import OutboundPolicy, OutboundRefused
from data.stores.audit import record_audit
from data.stores.schema import is_uuid, sources, tenants

DOWN_AFTER = 3
MASK = "***"
NETWORK_KINDS = ("prometheus", "http_json", "sql")
# Header names whose values are credentials: shown masked, kept when sent back masked.
SECRET_HEADER_WORDS = ("authorization", "cookie", "token", "key", "secret", "password", "auth")


def _sql_url(value: str) -> object:
    """SQLAlchemy's reading of an `sql` source's URL; ValueError when it is not one."""
    try:
        return make_url(value)
    except ArgumentError as exc:
        raise ValueError(str(exc)) from None


def parse_config(kind: str, config: Any) -> _Config:
    """The typed config of a kind, or Invalid with `config.<field>` details."""
    return source_spec.parse_config(kind, config, _sql_url)


def parse_spec(doc: Any) -> tuple[SourceSpec, _Config]:
    """A whole source definition checked, its config included."""
    return source_spec.parse_spec(doc, _sql_url)


def _secret_header(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_HEADER_WORDS)


def redacted(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """The config as the API shows it: passwords, credentials in URLs (userinfo, `?token=`
    and the like) and credential headers masked."""
    out = dict(config)
    if kind == "sql" and "url" in out:
        try:
            out["url"] = make_url(out["url"]).render_as_string(hide_password=True)
        except (ArgumentError, ValueError):
            out["url"] = MASK
    elif isinstance(out.get("url"), str):
        out["url"] = mask_url(out["url"])
    if isinstance(out.get("headers"), dict):
        out["headers"] = {k: MASK if _secret_header(k) else v for k, v in out["headers"].items()}
    return out


def unredacted(kind: str, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """`new` with masked secrets (as GET showed them) replaced by the stored values."""
    out = dict(new)
    if kind == "sql" and isinstance(out.get("url"), str) and isinstance(old.get("url"), str):
        out["url"] = _unmasked_sql_url(out["url"], old["url"])
    elif isinstance(out.get("url"), str):
        try:
            out["url"] = unmask_url(out["url"], old.get("url"))
        except MaskedCredential as exc:
            raise Invalid.field("config.url", str(exc), "source") from None
    headers, old_headers = out.get("headers"), old.get("headers") or {}
    if isinstance(headers, dict):
        out["headers"] = {k: old_headers.get(k, v) if v == MASK else v for k, v in headers.items()}
    return out


def _unmasked_sql_url(sent_text: str, stored_text: str) -> str:
    """The sent SQL URL, with the stored password in place of *** only when it goes to the
    same server, database and user: anywhere else, the stored password must not follow."""
    try:
        sent, stored = make_url(sent_text), make_url(stored_text)
    except (ArgumentError, ValueError):
        return sent_text
    if sent.password != MASK:
        return sent_text
    same = ("drivername", "host", "port", "database", "username")
    if any(getattr(sent, part) != getattr(stored, part) for part in same):
        message = "a changed server, database or user needs its own password (not ***)"
        raise Invalid.field("config.url", message, "source")
    return sent.set(password=stored.password).render_as_string(hide_password=False)


@dataclass(frozen=True, slots=True)
class Source:
    """One source row."""

    source_id: str
    tenant_id: str
    name: str
    kind: str
    config: dict[str, Any]
    interval_s: float
    timeout_s: float
    enabled: bool
    state: dict[str, Any]
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    created_at: datetime

    @property
    def status(self) -> str:
        """disabled, pending (never polled), up, failing (fewer than DOWN_AFTER) or down."""
        if not self.enabled:
            return "disabled"
        if self.consecutive_failures >= DOWN_AFTER:
            return "down"
        if self.consecutive_failures:
            return "failing"
        return "up" if self.last_success_at else "pending"

    def as_dict(self) -> dict[str, Any]:
        """The API's view: secrets masked, state and health included."""
        return {
            "id": self.source_id,
            "name": self.name,
            "kind": self.kind,
            "config": redacted(self.kind, self.config),
            "interval_s": self.interval_s,
            "timeout_s": self.timeout_s,
            "enabled": self.enabled,
            "created_at": iso_datetime(self.created_at),
            "health": {
                "status": self.status,
                "last_success_at": iso_datetime(self.last_success_at),
                "last_error_at": iso_datetime(self.last_error_at),
                "last_error": self.last_error,
                "consecutive_failures": self.consecutive_failures,
            },
            "state": self.state,
        }


def _source(row: Any) -> Source:
    return Source(
        row.source_id,
        row.tenant_id,
        row.name,
        row.kind,
        dict(row.config or {}),
        float(row.interval_s),
        float(row.timeout_s),
        bool(row.enabled),
        dict(row.state or {}),
        row.last_success_at,
        row.last_error_at,
        row.last_error,
        int(row.consecutive_failures),
        row.created_at,
    )


def _timeout(spec: SourceSpec) -> float:
    return spec.timeout_s if spec.timeout_s is not None else min(10.0, spec.interval_s)


class SourceStore:
    """Sources in PostgreSQL: admin CRUD scoped by tenant, and the worker's health records."""

    def __init__(
        self, engine: Engine, policy: OutboundPolicy | None = None, max_per_tenant: int = 50
    ) -> None:
        self.engine = engine
        self.policy = policy or OutboundPolicy()  # none given: only public addresses
        self.max_per_tenant = max_per_tenant

    def _check_target(self, kind: str, config: _Config) -> None:
        """Invalid when the config points where the outbound policy refuses to go."""
        url = getattr(config, "url", None)
        if kind not in NETWORK_KINDS or not isinstance(url, str):
            return
        try:
            if kind == "sql":
                self.policy.check_sql(url, must_resolve=False)
            else:
                self.policy.check_url(url, must_resolve=False)
        except OutboundRefused as exc:
            raise Invalid.field("config.url", str(exc), "source") from None

    # -- admin side, always scoped by tenant --------------------------------------------

    def of_tenant(self, tenant_id: str) -> list[Source]:
        """The tenant's sources by name."""
        query = select(sources).where(sources.c.tenant_id == tenant_id).order_by(sources.c.name)
        with self.engine.connect() as conn:
            return [_source(row) for row in conn.execute(query)]

    def get(self, tenant_id: str, source_id: str) -> Source | None:
        """The tenant's source with this id; None for another tenant's or a missing one."""
        if not is_uuid(source_id):
            return None
        query = select(sources).where(
            sources.c.tenant_id == tenant_id, sources.c.source_id == source_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _source(row) if row else None

    def create(self, tenant_id: str, doc: Any, user_id: str | None = None) -> Source:
        """Check and insert a source; Invalid, Conflict or QuotaExceeded when refused."""
        spec, config = parse_spec(doc)
        self._check_target(spec.kind, config)
        source_id = str(uuid.uuid4())
        values = {
            "name": spec.name,
            "kind": spec.kind,
            "config": config.model_dump(mode="json"),
            "interval_s": spec.interval_s,
            "timeout_s": _timeout(spec),
            "enabled": spec.enabled,
        }
        try:
            with self.engine.begin() as conn:
                self._within_quota(conn, tenant_id)
                conn.execute(
                    insert(sources).values(source_id=source_id, tenant_id=tenant_id, **values)
                )
                details = {"kind": spec.kind}
                record_audit(conn, tenant_id, user_id, "source.create", spec.name, details)
        except IntegrityError:
            raise _name_taken(spec.name) from None
        created = self.get(tenant_id, source_id)
        assert created is not None
        return created

    def update(
        self, tenant_id: str, source_id: str, doc: Any, user_id: str | None = None
    ) -> Source | None:
        """Change a source: fields left out keep their value; a new kind or config starts
        from a fresh state (offsets and high-water marks belong to the old config)."""
        current = self.get(tenant_id, source_id)
        if current is None:
            return None
        if not isinstance(doc, dict):
            raise Invalid.field("body", "must be a JSON object", "source")
        merged = {
            "name": current.name,
            "kind": current.kind,
            "config": current.config,
            "interval_s": current.interval_s,
            "timeout_s": current.timeout_s,
            "enabled": current.enabled,
            **doc,
        }
        if "config" in doc and isinstance(doc["config"], dict) and merged["kind"] == current.kind:
            merged["config"] = unredacted(current.kind, doc["config"], current.config)
        spec, config = parse_spec(merged)
        self._check_target(spec.kind, config)
        values: dict[str, Any] = {
            "name": spec.name,
            "kind": spec.kind,
            "config": config.model_dump(mode="json"),
            "interval_s": spec.interval_s,
            "timeout_s": _timeout(spec),
            "enabled": spec.enabled,
        }
        if values["kind"] != current.kind or values["config"] != current.config:
            values["state"] = {}
        changed = sorted(k for k, v in values.items() if k != "state" and v != _field(current, k))
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(sources)
                    .where(sources.c.tenant_id == tenant_id, sources.c.source_id == source_id)
                    .values(**values)
                )
                details = {"changed": changed}
                record_audit(conn, tenant_id, user_id, "source.update", spec.name, details)
        except IntegrityError:
            raise _name_taken(spec.name) from None
        return self.get(tenant_id, source_id)

    def _within_quota(self, conn: Connection, tenant_id: str) -> None:
        """QuotaExceeded when the tenant is at its quota (its row lock serialises creates)."""
        conn.execute(
            select(tenants.c.tenant_id).where(tenants.c.tenant_id == tenant_id).with_for_update()
        )
        count = conn.execute(
            select(func.count()).select_from(sources).where(sources.c.tenant_id == tenant_id)
        ).scalar_one()
        if count >= self.max_per_tenant:
            message = f"a tenant may have at most {self.max_per_tenant} sources"
            raise QuotaExceeded(message, "too_many_sources")

    def delete(self, tenant_id: str, source_id: str, user_id: str | None = None) -> bool:
        """Remove a source; False when the tenant has no such source."""
        if not is_uuid(source_id):
            return False
        with self.engine.begin() as conn:
            name = conn.execute(
                delete(sources)
                .where(sources.c.tenant_id == tenant_id, sources.c.source_id == source_id)
                .returning(sources.c.name)
            ).scalar_one_or_none()
            if name is None:
                return False
            record_audit(conn, tenant_id, user_id, "source.delete", name, {})
        return True

    # -- worker side ---------------------------------------------------------------------

    def load(self, source_id: str) -> Source | None:
        """Any tenant's source by id (the worker's view)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(sources).where(sources.c.source_id == source_id)).first()
        return _source(row) if row else None

    def enabled(self, kinds: Iterable[str] = KINDS) -> list[tuple[str, str, float]]:
        """(source_id, kind, interval_s) of every enabled source of these kinds."""
        query = select(sources.c.source_id, sources.c.kind, sources.c.interval_s).where(
            sources.c.enabled.is_(True), sources.c.kind.in_(list(kinds))
        )
        with self.engine.connect() as conn:
            return [(r.source_id, r.kind, float(r.interval_s)) for r in conn.execute(query)]

    def record_success(self, polled: Source, state: dict[str, Any], at: datetime) -> bool:
        """Save the new state and a success; True when this ends a down spell. The state is
        kept only if the config is still the one polled (an edit meanwhile reset it)."""
        with self.engine.begin() as conn:
            before = conn.execute(
                text(
                    "UPDATE sources SET consecutive_failures = 0, last_success_at = :at,"
                    " state = CASE WHEN sources.kind = :kind AND sources.config = :config"
                    " THEN :state ELSE sources.state END"
                    " FROM (SELECT source_id, consecutive_failures AS before FROM sources"
                    "       WHERE source_id = :id FOR UPDATE) AS old"
                    " WHERE sources.source_id = old.source_id RETURNING old.before"
                ).bindparams(_json_param("config", polled.config), _json_param("state", state)),
                {"id": polled.source_id, "at": at, "kind": polled.kind},
            ).scalar_one_or_none()
        return before is not None and before >= DOWN_AFTER

    def record_failure(self, source_id: str, error: str, at: datetime) -> bool:
        """Count a failure; True exactly when this failure makes the source down."""
        with self.engine.begin() as conn:
            failures = conn.execute(
                update(sources)
                .where(sources.c.source_id == source_id)
                .values(
                    consecutive_failures=sources.c.consecutive_failures + 1,
                    last_error_at=at,
                    last_error=error[:2000],
                )
                .returning(sources.c.consecutive_failures)
            ).scalar_one_or_none()
        return failures == DOWN_AFTER

    def health_counts(self) -> dict[str, int]:
        """Enabled sources per status (up, failing, down, pending), over every tenant."""
        status = (
            "CASE WHEN consecutive_failures >= :down THEN 'down'"
            " WHEN consecutive_failures > 0 THEN 'failing'"
            " WHEN last_success_at IS NULL THEN 'pending' ELSE 'up' END"
        )
        query = text(f"SELECT {status} AS status, count(*) FROM sources WHERE enabled GROUP BY 1")
        counts = {"up": 0, "failing": 0, "down": 0, "pending": 0}
        with self.engine.connect() as conn:
            for row in conn.execute(query, {"down": DOWN_AFTER}):
                counts[row[0]] = int(row[1])
        return counts


def _name_taken(name: str) -> Conflict:
    return Conflict(f"a source named {name!r} exists", "name_taken")


def _json_param(name: str, value: Any) -> Any:
    return bindparam(name, value, type_=sources.c.config.type)


def _field(source: Source, key: str) -> Any:
    return getattr(source, key)
