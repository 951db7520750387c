"""Alert evaluation where the data passes: the worker's batches, the nodata job, source events.

Cost: a batch is grouped once into series of the metrics some rule watches (one dict lookup
per point); each (rule, series) then judges its own points. Rules are indexed by metric, so
100 rules per tenant cost nothing for points of metrics no rule watches.

Where state lives, and why:
- Redis, hash `{prefix}alert-state:{rule_id}` (field: the series' source), holds each
  (rule, series)'s state machine: status, since when it is pending, the newest point judged,
  the open incident's key, the cooldown's end and the rate/spike window (≤ 120 samples).
  It is read and written once per batch in one pipelined round trip each, which PostgreSQL
  could not afford at 50,000 points/s; it survives a worker restart (Redis is the shared,
  persistent store of the pipeline already) and expires a week after a series goes quiet.
- PostgreSQL holds what must never be duplicated: incidents (unique `incident_key`, and at
  most one open incident per rule and series), notifications and deliveries (unique per
  incident state). Transitions are recorded there *before* the new state is saved: a
  worker killed in between re-judges the same points from the old state after a restart,
  derives the same keys, and inserts nothing new. A state lost altogether (Redis emptied)
  is re-seeded from the open incidents.
- Rules come from PostgreSQL, cached per tenant in each worker; every change bumps the
  tenant's version in Redis (`{prefix}alert-rules:{tenant}:version`), read with one MGET per
  batch, so an edit applies to the next batch without a restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.exceptions import ResponseError

from app.errors import is_outage
from app.metrics import ALERT_EVALUATIONS, ALERT_TRANSITIONS, NOTIFICATIONS_CREATED
from app.services import Services
from data.domain.alert_rule import FIRING, RuleDef, SeriesState, Transition
from data.domain.alert_state_machine import check_silence, observe_series, source_event
from data.domain.points import Point
from data.stores.alert_rules import AlertRules
from data.stores.events import Events
from data.stores.incident_records import Recorded, open_incidents, record

log = logging.getLogger(__name__)
STATE_TTL_S = 7 * 86_400
CACHE_MAX_AGE_S = 60.0  # a rule cache is reloaded at least this often, version or not
EVENTS_GROUP = "alerts"
EVENT_MAX_AGE_MS = 600_000  # older events (e.g. before the first worker ran) are skipped
DOWN_PREFIX = "down|"


@dataclass
class TenantRules:
    """A tenant's enabled rules, indexed for evaluation."""

    version: int
    loaded_at: float
    by_metric: dict[str, list[RuleDef]] = field(default_factory=dict)  # value kinds only

    @classmethod
    def of(cls, version: int, rules: Iterable[RuleDef], loaded_at: float) -> TenantRules:
        out = cls(version, loaded_at)
        for rule in rules:
            if rule.kind in ("threshold", "rate", "spike"):
                out.by_metric.setdefault(rule.metric, []).append(rule)
        return out


class RuleCache:
    """Per-tenant rule indexes of one worker, refreshed when the tenant's version moves."""

    def __init__(self, rules: AlertRules, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.rules = rules
        self.monotonic = monotonic
        self.tenants: dict[str, TenantRules] = {}

    def for_tenants(self, tenants: Sequence[str]) -> dict[str, TenantRules]:
        now = self.monotonic()
        for tenant, version in zip(tenants, self.rules.versions(list(tenants)), strict=True):
            cached = self.tenants.get(tenant)
            if (
                cached is None
                or cached.version != version
                or now - cached.loaded_at > CACHE_MAX_AGE_S
            ):
                self.tenants[tenant] = TenantRules.of(version, self.rules.enabled_of(tenant), now)
        return {t: self.tenants[t] for t in tenants}


@dataclass
class Outcome:
    """What one evaluation did (for metrics, tests and the bench)."""

    series: int = 0
    transitions: int = 0
    notifications: int = 0
    deliveries: int = 0


Work = tuple[RuleDef, str, SeriesState]  # a rule, the series' field (source), its state


class AlertEngine:
    """Judges points and events against the rules and records what fires or resolves."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.rules = AlertRules(
            services.engine, services.redis, services.settings.redis_prefix, clock=services.clock
        )
        self.cache = RuleCache(self.rules)
        self.redis: Any = services.redis
        self.events = Events(services.redis, services.settings.redis_prefix)
        # Idle, the events job ran three Redis commands a second (a group creation that
        # failed with BUSYGROUP, a read of its pending list, a read of new entries): the
        # group is made once (again if Redis lost it), and the pending list is read only
        # while entries this consumer took may still be unacknowledged.
        self._events_group_made = False
        self._events_maybe_pending = True

    # -- the batch path (the worker's Consumer, right after commit and publish) -----------

    # C901 allowed: one batch's load, judge, record and save side by side, so that the
    # transaction's bounds stay visible
    def evaluate_batch(self, published: dict[str, list[Point]]) -> Outcome:  # noqa: C901
        """Judge a committed batch's points against the value rules of their tenants."""
        outcome = Outcome()
        if not published:
            return outcome
        now_ms = self.services.now_ms()
        indexes = self.cache.for_tenants(list(published))
        jobs: list[tuple[RuleDef, str, list[tuple[int, float]]]] = []
        for tenant, points in published.items():
            by_metric = indexes[tenant].by_metric
            if not by_metric:
                continue
            series: dict[tuple[str, str], list[tuple[int, float]]] = {}
            for p in points:
                if p.metric in by_metric:
                    series.setdefault((p.metric, p.source), []).append((p.ts_ms, p.value))
            for (metric, source), values in series.items():
                for rule in by_metric[metric]:
                    if rule.source == "*" or rule.source == source:
                        jobs.append((rule, source, values))
        if not jobs:
            return outcome

        def judge(rule: RuleDef, state: SeriesState, source: str, values: Any) -> list[Transition]:
            return list(observe_series(rule, state, source, values, now_ms))

        return self.judge_jobs(jobs, "value", judge)

    def judge_jobs(
        self,
        jobs: Sequence[tuple[RuleDef, str, Any]],
        kind: str,
        judge: Callable[[RuleDef, SeriesState, str, Any], Iterable[Transition]],
    ) -> Outcome:
        """Load the states of (rule, source, evidence) jobs, judge each, record what fired
        and save the states (in that order: a worker dying in between judges again, and
        the incident keys make the second recording a no-op)."""
        outcome = Outcome()
        states = self._load([(rule, source) for rule, source, _ in jobs], kind)
        fired: list[tuple[RuleDef, Transition, SeriesState]] = []
        for (rule, source, evidence), state in zip(jobs, states, strict=True):
            fired.extend((rule, t, state) for t in judge(rule, state, source, evidence))
        outcome.series = len(jobs)
        ALERT_EVALUATIONS.inc(len(jobs))
        self._record(fired, outcome)
        self._save(
            [(rule, source, state) for (rule, source, _), state in zip(jobs, states, strict=True)]
        )
        return outcome

    # -- the nodata job -------------------------------------------------------------------

    def check_nodata(self) -> Outcome:
        """Judge every nodata rule's series against the newest point each has (the live
        store's latest values), at the injected clock's time."""
        outcome = Outcome()
        now_ms = self.services.now_ms()
        by_tenant: dict[str, list[RuleDef]] = {}
        for rule in self.rules.enabled_of_kind("nodata"):
            by_tenant.setdefault(rule.tenant_id, []).append(rule)
        jobs: list[tuple[RuleDef, str, int]] = []
        for tenant, rules in by_tenant.items():
            latest = self.services.live.latest(tenant)
            for rule in rules:
                for (metric, source), (ts_ms, _) in latest.items():
                    if rule.watches(metric, source):
                        jobs.append((rule, source, ts_ms))
        if not jobs:
            return outcome

        def judge(rule: RuleDef, state: SeriesState, source: str, ts_ms: int) -> list[Transition]:
            transition = check_silence(rule, state, source, ts_ms, now_ms)
            return [] if transition is None else [transition]

        return self.judge_jobs(jobs, "nodata", judge)

    # -- source.down / source.up events ---------------------------------------------------

    def consume_events(self, consumer: str, block_ms: int | None = None) -> Outcome:
        """Handle the pipeline's new source.down/source.up events (consumer group `alerts`,
        so that each event is handled by one worker, and again only if it died before
        acknowledging it: the incident key holds the event id, so a redelivery adds none)."""
        outcome = Outcome()
        raw = self._read_events(consumer, block_ms)
        if not raw:
            return outcome
        self._events_maybe_pending = True  # until they are acknowledged below
        now_ms = self.services.now_ms()
        rules = [r for r in self.rules.enabled_of_kind("nodata") if r.source_down]
        handled = []
        for entry_id, fields in raw:
            eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            handled.append(eid)
            doc = {k.decode(): v.decode() for k, v in (fields or {}).items()}
            if doc.get("type") not in ("source.down", "source.up"):
                continue
            if now_ms - int(eid.partition("-")[0]) > EVENT_MAX_AGE_MS:
                continue
            self._source_event(rules, eid, doc, now_ms, outcome)
        self.redis.xack(self.events.key, EVENTS_GROUP, *handled)
        self._events_maybe_pending = False
        return outcome

    def _read_events(self, consumer: str, block_ms: int | None) -> list[Any]:
        """This consumer's unacknowledged events if it may have some, else new ones."""
        if not self._events_group_made:
            self._ensure_events_group()
            self._events_group_made = True
        try:
            if self._events_maybe_pending:
                pending = self.redis.xreadgroup(
                    EVENTS_GROUP, consumer, {self.events.key: "0"}, count=100
                )
                if pending and pending[0][1]:
                    return list(pending[0][1])
                self._events_maybe_pending = False
            fresh = self.redis.xreadgroup(
                EVENTS_GROUP, consumer, {self.events.key: ">"}, count=100, block=block_ms
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self._events_group_made = False  # Redis lost it (restarted empty): make it again
            return []
        return list(fresh[0][1]) if fresh else []

    def _source_event(
        self, rules: list[RuleDef], eid: str, doc: dict[str, str], now_ms: int, outcome: Outcome
    ) -> None:
        name = doc.get("name", "")
        mine = [r for r in rules if r.tenant_id == doc.get("tenant") and r.source in ("*", name)]
        if not mine:
            return
        states = self._load([(rule, DOWN_PREFIX + name) for rule in mine], "source_down")
        fired = []
        for rule, state in zip(mine, states, strict=True):
            transition = source_event(
                rule, state, doc["type"], name, eid, doc.get("error", ""), now_ms
            )
            if transition is not None:
                fired.append((rule, transition, state))
        outcome.series += len(mine)
        self._record(fired, outcome)
        self._save(
            [(rule, DOWN_PREFIX + name, state) for rule, state in zip(mine, states, strict=True)]
        )

    def _ensure_events_group(self) -> None:
        try:
            self.redis.xgroup_create(self.events.key, EVENTS_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    # -- state and records ----------------------------------------------------------------

    def _load(self, pairs: list[tuple[RuleDef, str]], cause: str) -> list[SeriesState]:
        """The saved states of (rule, series field) pairs, one round trip; a missing one is
        re-seeded from the series' open incident, if it has one."""
        with self.redis.pipeline(transaction=False) as pipe:
            for rule, source in pairs:
                pipe.hget(self.rules.state_key(rule.rule_id), source)
            raw = pipe.execute()
        states = [SeriesState.from_doc(orjson.loads(r)) if r else SeriesState() for r in raw]
        missing = [i for i, r in enumerate(raw) if r is None]
        if missing:
            wanted = {(pairs[i][0].rule_id, pairs[i][1].removeprefix(DOWN_PREFIX)) for i in missing}
            with self.services.engine.connect() as conn:
                open_ones = open_incidents(conn, sorted(wanted))
            for i in missing:
                rule, source = pairs[i]
                series = source.removeprefix(DOWN_PREFIX)
                found = open_ones.get((rule.rule_id, cause, rule.metric, series))
                if found is not None:  # firing since then: points up to it were judged
                    key, fired_ms = found
                    states[i].status, states[i].incident_key = FIRING, key
                    if cause == "value":
                        states[i].last_ts = fired_ms
        return states

    def _save(self, work: Sequence[Work]) -> None:
        with self.redis.pipeline(transaction=False) as pipe:
            keys = set()
            for rule, source, state in work:
                key = self.rules.state_key(rule.rule_id)
                keys.add(key)
                pipe.hset(key, source, orjson.dumps(state.to_doc()))
            for key in keys:
                pipe.expire(key, STATE_TTL_S)
            pipe.execute()

    def _record(
        self, fired: list[tuple[RuleDef, Transition, SeriesState]], outcome: Outcome
    ) -> None:
        """Write the transitions' rows in one transaction (a commit each would cost a
        WAL flush per breach, and a burst of breaches would hold up the next batch), then
        push the new notifications to the recipients' sockets."""
        if not fired:
            return
        with self.services.engine.begin() as conn:
            records = [record(conn, rule, t, rule.targets) for rule, t, _ in fired]
        for (rule, transition, state), recorded in zip(fired, records, strict=True):
            if transition.state == "firing" and recorded.incident_key:
                state.incident_key = recorded.incident_key  # an open one adopted
            outcome.transitions += 1
            outcome.notifications += len(recorded.notifications)
            outcome.deliveries += recorded.deliveries
            ALERT_TRANSITIONS.labels(transition.state).inc()
            NOTIFICATIONS_CREATED.inc(len(recorded.notifications))
            self._push(rule.tenant_id, recorded)

    def _push(self, tenant: str, recorded: Recorded) -> None:
        by_user = {}
        for doc in recorded.notifications:
            user_id = doc["user_id"]
            note = {k: v for k, v in doc.items() if k != "user_id"}
            by_user[user_id] = {"notification": note, "unread": recorded.unread.get(user_id)}
        try:
            self.services.live.publish_notices(tenant, by_user)
        except Exception:  # stored already: the client finds it in /api/notifications
            log.exception("could not push %d notification(s)", len(by_user))


def evaluate_alerts(alerts: AlertEngine, published: dict[str, list[Point]]) -> None:
    """The worker's hook, after a batch is committed and published. An outage propagates
    (the batch is retried, and judged again idempotently); any other failure is logged and
    never holds up the points."""
    try:
        alerts.evaluate_batch(published)
    except Exception as exc:
        if is_outage(exc):
            raise
        log.exception("alert evaluation failed for a batch")
