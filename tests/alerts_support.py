"""Helpers of the alert tests: the rule definition they start from, the rule store of a
Services, and a firing incident recorded as the evaluator records one."""

from __future__ import annotations

import time
from typing import Any

from app.services import Services
from data.domain.alert_rule import Transition
from data.stores.alert_rules import AlertRules, Rule
from data.stores.incident_records import record

METRIC, SOURCE = "cpu.usage", "web-1"
# rule_doc's changes for a rule that fires on every breach and resolves only below 80
HOT_NOW = {"cooldown_s": 0, "clear_threshold": None}


def rule_doc(name: str = "CPU hot", metric: str = METRIC, **changes: Any) -> dict[str, Any]:
    """A valid threshold rule definition (fires above 80, clears at 75), with `changes`."""
    doc = {
        "name": name,
        "metric": metric,
        "source": "*",
        "kind": "threshold",
        "op": ">",
        "threshold": 80,
        "clear_threshold": 75,
        "for_s": 0,
        "severity": "critical",
        "cooldown_s": 300,
        "channels": ["in_app"],
        "enabled": True,
    }
    doc.update(changes)
    return doc


def rules_of(services: Services) -> AlertRules:
    """The rule store over the run's database and Redis prefix."""
    return AlertRules(services.engine, services.redis, services.settings.redis_prefix)


def create_rule(services: Services, tenant: str, **changes: Any) -> Rule:
    """A new rule of `tenant`: rule_doc with `changes`."""
    return rules_of(services).create(tenant, rule_doc(**changes))


def firing_incident(services: Services, rule: Rule, series: str, value: float) -> str:
    """A new firing incident of `rule` on `series` (with a notification for each of the
    tenant's users), recorded as the evaluator records one; its id."""
    at_ms = int(time.time() * 1000)
    metric = rule.metric
    transition = Transition(
        "firing",
        f"{rule.rule_id}|value|{metric}|{series}|{at_ms}",
        "value",
        metric,
        series,
        at_ms,
        value,
        f"{rule.name}: {metric} {value:g} > 80 on {series}",
    )
    with services.engine.begin() as conn:
        recorded = record(conn, rule.definition(), transition, [])
    assert recorded.incident_id is not None
    return recorded.incident_id
