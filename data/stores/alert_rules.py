"""Alert rules: CRUD per tenant (the definition is data/domain/rule_spec.py), and a version
counter per tenant in Redis that the worker's rule cache watches.

A rule is stored as its common columns (name, metric, source, kind, severity, cooldown,
channels, enabled, silenced_until) and its kind's parameters in `params` (op, threshold,
clear_threshold, for_s, change_pct, direction, zscore, window_s, source_down, webhook_url,
email_to). The API shows it flat, as CONTRACT.md §3 does. Every change is written to the
audit log and bumps the tenant's version, so evaluation picks it up within a batch.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from redis import Redis
from sqlalchemy import Engine, delete, insert, select, update

from data.domain.alert_rule import RuleDef
from data.domain.errors import Invalid, QuotaExceeded
from data.domain.rule_spec import (
    KIND_PARAMS,
    PARAMS,
    RuleSpec,
    as_list,
    parse_rule,
    rule_def,
    spec_def,
    spec_params,
)
from data.domain.timefmt import iso_datetime
from data.domain.url_secrets import MaskedCredential, mask_url, unmask_url
from data.outbound import OutboundPolicy, OutboundRefused
from data.stores.audit import record_audit
from data.stores.schema import alert_rules, is_uuid

# The definition's names stay importable from here (callbacks, the preview in
# data/stores/incidents.py): the store is where a rule is checked and kept.
__all__ = ["KIND_PARAMS", "MAX_RULES_PER_TENANT", "AlertRules", "Rule", "parse_rule", "spec_def"]
MAX_RULES_PER_TENANT = 1000


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule row."""

    rule_id: str
    tenant_id: str
    name: str
    metric: str
    source: str
    kind: str
    params: dict[str, Any]
    severity: str
    cooldown_s: float
    channels: list[str]
    enabled: bool
    silenced_until: datetime | None
    webhook_secret: str | None
    created_at: datetime
    updated_at: datetime

    def as_dict(self, with_secret: bool = False) -> dict[str, Any]:
        """The API's flat view (CONTRACT.md §3); the webhook secret only for rule editors."""
        out: dict[str, Any] = {
            "id": self.rule_id,
            "name": self.name,
            "metric": self.metric,
            "source": self.source,
            "kind": self.kind,
        }
        for key in KIND_PARAMS[self.kind]:
            out[key] = self.params.get(key)
        out.update(
            severity=self.severity,
            cooldown_s=self.cooldown_s,
            channels=list(self.channels),
            enabled=self.enabled,
            silenced_until=iso_datetime(self.silenced_until),
            created_at=iso_datetime(self.created_at),
            updated_at=iso_datetime(self.updated_at),
        )
        for key in ("webhook_url", "email_to"):
            if self.params.get(key) is not None:
                out[key] = self.params[key]
        if out.get("webhook_url") is not None:  # credentials in a URL are shown masked
            out["webhook_url"] = _map_urls(mask_url, out["webhook_url"])
        if with_secret and "webhook" in self.channels:
            out["webhook_secret"] = self.webhook_secret
        return out

    def spec_doc(self) -> dict[str, Any]:
        """The definition as a PUT body would give it (for merging partial updates)."""
        doc = {
            "name": self.name,
            "metric": self.metric,
            "source": self.source,
            "kind": self.kind,
            "severity": self.severity,
            "cooldown_s": self.cooldown_s,
            "channels": list(self.channels),
            "enabled": self.enabled,
        }
        doc.update({k: v for k, v in self.params.items() if v is not None})
        return doc

    def definition(self) -> RuleDef:
        """What the state machine needs."""
        return rule_def(
            self.rule_id,
            self.tenant_id,
            self.name,
            self.metric,
            self.source,
            self.kind,
            self.params,
            self.severity,
            self.cooldown_s,
            self.channels,
            self.enabled,
            self.silenced_until,
        )


def _rule(row: Any) -> Rule:
    return Rule(
        row.rule_id,
        row.tenant_id,
        row.name,
        row.metric,
        row.source,
        row.kind,
        dict(row.params or {}),
        row.severity,
        float(row.cooldown_s),
        list(row.channels or []),
        bool(row.enabled),
        row.silenced_until,
        row.webhook_secret,
        row.created_at,
        row.updated_at,
    )


class AlertRules:
    """Rules in PostgreSQL, scoped by tenant; each change bumps the tenant's version."""

    def __init__(
        self,
        engine: Engine,
        redis: Redis,
        prefix: str,
        policy: OutboundPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy or OutboundPolicy()  # none given: only public addresses
        self.clock = clock  # epoch seconds: when a change is recorded as made
        self.engine = engine
        self.redis: Any = redis
        self.prefix = prefix

    def version_key(self, tenant_id: str) -> str:
        return f"{self.prefix}alert-rules:{tenant_id}:version"

    def state_key(self, rule_id: str) -> str:
        """The Redis hash of a rule's per-series evaluation state (data/alert_engine.py)."""
        return f"{self.prefix}alert-state:{rule_id}"

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _changed(self, tenant_id: str) -> None:
        self.redis.incr(self.version_key(tenant_id))

    def of_tenant(self, tenant_id: str) -> list[Rule]:
        """The tenant's rules by name."""
        query = (
            select(alert_rules)
            .where(alert_rules.c.tenant_id == tenant_id)
            .order_by(alert_rules.c.name, alert_rules.c.rule_id)
        )
        with self.engine.connect() as conn:
            return [_rule(row) for row in conn.execute(query)]

    def get(self, tenant_id: str, rule_id: str) -> Rule | None:
        """The tenant's rule with this id; None for another tenant's or a missing one."""
        if not is_uuid(rule_id):
            return None
        query = select(alert_rules).where(
            alert_rules.c.tenant_id == tenant_id, alert_rules.c.rule_id == rule_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _rule(row) if row else None

    def create(self, tenant_id: str, doc: Any, user_id: str | None = None) -> Rule:
        """Check and insert a rule; Invalid or QuotaExceeded when refused."""
        spec = parse_rule(doc)
        self._check_webhooks(spec)
        rule_id = str(uuid.uuid4())
        with self.engine.begin() as conn:
            count = conn.execute(
                select(alert_rules.c.rule_id).where(alert_rules.c.tenant_id == tenant_id)
            ).all()
            if len(count) >= MAX_RULES_PER_TENANT:
                message = f"a tenant may have at most {MAX_RULES_PER_TENANT} rules"
                raise QuotaExceeded(message, "too_many_rules")
            conn.execute(
                insert(alert_rules).values(
                    rule_id=rule_id,
                    tenant_id=tenant_id,
                    created_by=user_id,
                    webhook_secret=secrets.token_hex(32),
                    created_at=(now := self._now()),
                    updated_at=now,
                    **_values(spec),
                )
            )
            record_audit(conn, tenant_id, user_id, "alert.create", rule_id, {"name": spec.name})
        self._changed(tenant_id)
        created = self.get(tenant_id, rule_id)
        assert created is not None
        return created

    def update(
        self, tenant_id: str, rule_id: str, doc: Any, user_id: str | None = None
    ) -> Rule | None:
        """Change a rule: fields left out keep their value. A new kind, metric, source or
        window starts the rule's series from a fresh state."""
        current = self.get(tenant_id, rule_id)
        if current is None:
            return None
        if not isinstance(doc, dict):
            raise Invalid.field("body", "must be a JSON object", "rule")
        merged = {**current.spec_doc(), **{k: v for k, v in doc.items() if k != "id"}}
        if merged.get("kind") != current.kind:  # the old kind's parameters do not carry over
            merged = {k: v for k, v in merged.items() if k not in PARAMS or k in doc}
        if isinstance(doc.get("webhook_url"), str | list):
            merged["webhook_url"] = _unmasked_webhooks(doc["webhook_url"], current)
        spec = parse_rule(merged)
        self._check_webhooks(spec)
        values = _values(spec)
        changed = sorted(k for k, v in values.items() if v != _current(current, k))
        with self.engine.begin() as conn:
            conn.execute(
                update(alert_rules)
                .where(alert_rules.c.tenant_id == tenant_id, alert_rules.c.rule_id == rule_id)
                .values(updated_at=self._now(), **values)
            )
            record_audit(conn, tenant_id, user_id, "alert.update", rule_id, {"changed": changed})
        reset = {"kind", "metric", "source"} & set(changed) or (
            current.params.get("window_s") != values["params"].get("window_s")
        )
        if reset:
            self.redis.delete(self.state_key(rule_id))
        self._changed(tenant_id)
        return self.get(tenant_id, rule_id)

    def delete(self, tenant_id: str, rule_id: str, user_id: str | None = None) -> bool:
        """Remove a rule with its incidents; False when the tenant has no such rule."""
        if not is_uuid(rule_id):
            return False
        with self.engine.begin() as conn:
            name = conn.execute(
                delete(alert_rules)
                .where(alert_rules.c.tenant_id == tenant_id, alert_rules.c.rule_id == rule_id)
                .returning(alert_rules.c.name)
            ).scalar_one_or_none()
            if name is None:
                return False
            record_audit(conn, tenant_id, user_id, "alert.delete", rule_id, {"name": name})
        self.redis.delete(self.state_key(rule_id))
        self._changed(tenant_id)
        return True

    def silence(
        self, tenant_id: str, rule_id: str, until: datetime | None, user_id: str | None = None
    ) -> Rule | None:
        """Silence a rule until `until` (None lifts a silence); None when there is no rule."""
        if not is_uuid(rule_id):
            return None
        with self.engine.begin() as conn:
            found = conn.execute(
                update(alert_rules)
                .where(alert_rules.c.tenant_id == tenant_id, alert_rules.c.rule_id == rule_id)
                .values(silenced_until=until, updated_at=self._now())
                .returning(alert_rules.c.rule_id)
            ).scalar_one_or_none()
            if found is None:
                return None
            details = {"until": iso_datetime(until)}
            record_audit(conn, tenant_id, user_id, "alert.silence", rule_id, details)
        self._changed(tenant_id)
        return self.get(tenant_id, rule_id)

    # -- the worker's side ---------------------------------------------------------------

    def versions(self, tenant_ids: list[str]) -> list[int]:
        """The rule versions of these tenants (0 for a tenant whose rules never changed)."""
        if not tenant_ids:
            return []
        raw = self.redis.mget([self.version_key(t) for t in tenant_ids])
        return [int(v) if v is not None else 0 for v in raw]

    def enabled_of(self, tenant_id: str) -> list[RuleDef]:
        """The tenant's enabled rules, ready for evaluation."""
        query = select(alert_rules).where(
            alert_rules.c.tenant_id == tenant_id, alert_rules.c.enabled.is_(True)
        )
        with self.engine.connect() as conn:
            return [_rule(row).definition() for row in conn.execute(query)]

    def enabled_of_kind(self, kind: str) -> list[RuleDef]:
        """Every tenant's enabled rules of a kind (the nodata job's)."""
        query = select(alert_rules).where(
            alert_rules.c.kind == kind, alert_rules.c.enabled.is_(True)
        )
        with self.engine.connect() as conn:
            return [_rule(row).definition() for row in conn.execute(query)]

    def _check_webhooks(self, spec: RuleSpec) -> None:
        """Invalid when a webhook URL points where the outbound policy refuses to go."""
        if "webhook" not in spec.channels:
            return
        for url in as_list(spec.webhook_url):
            try:
                self.policy.check_url(url, must_resolve=False)
            except OutboundRefused as exc:
                raise Invalid.field("webhook_url", str(exc), "rule") from None

    def webhook_secret(self, rule_id: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(alert_rules.c.webhook_secret).where(alert_rules.c.rule_id == rule_id)
            ).scalar_one_or_none()


def _map_urls(change: Callable[[str], str], urls: str | list[str]) -> str | list[str]:
    return change(urls) if isinstance(urls, str) else [change(u) for u in urls]


def _unmasked_webhooks(sent: Any, current: Rule) -> Any:
    """Webhook URLs sent back with *** (as GET showed them) with the stored credentials,
    each restored only onto the host it was taken from."""
    stored = as_list(current.params.get("webhook_url"))

    def restore(url: Any) -> Any:
        if not isinstance(url, str):
            return url  # parse_rule names the problem
        same_host = [
            s
            for s in stored
            if urlsplit(s).netloc.rsplit("@", 1)[-1] == urlsplit(url).netloc.rsplit("@", 1)[-1]
        ]
        candidates = [s for s in same_host if mask_url(s) == url] or same_host
        try:
            return unmask_url(url, candidates[0] if candidates else None)
        except MaskedCredential as exc:
            raise Invalid.field("webhook_url", str(exc), "rule") from None

    return [restore(u) for u in sent] if isinstance(sent, list) else restore(sent)


def _values(spec: RuleSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "metric": spec.metric,
        "source": spec.source,
        "kind": spec.kind,
        "params": spec_params(spec),
        "severity": spec.severity,
        "cooldown_s": int(round(spec.cooldown_s)),
        "channels": list(spec.channels),
        "enabled": spec.enabled,
    }


def _current(rule: Rule, key: str) -> Any:
    return rule.params if key == "params" else getattr(rule, key)
