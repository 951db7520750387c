"""Outbound alert deliveries (webhooks, e-mail), sent by the worker off the write path.

The queue is the `alert_deliveries` table: one row per incident state, channel and target
(unique), written in the transaction that records the incident state, so a restart never
queues one twice. A worker claims due rows with `FOR UPDATE SKIP LOCKED` and leases them
(status `sending`, `next_attempt_at` = now + lease) before sending, so two workers never
send the same row at once; a worker that dies mid-send leaves a lease that expires and the
row is sent again — the one case of a repeat, which the `X-Pulse-Delivery` id (and the body's
`idempotency_key`, incident key + state) lets a receiver drop. Failures are retried with
exponential backoff and recorded (`attempts`, `last_error`), visible in GET /api/incidents.

Webhooks: POST of the JSON payload, signed twice with the rule's webhook secret:
`X-Pulse-Signature: sha256=<hex HMAC-SHA256 of the body>`, and the Standard Webhooks
headers `webhook-id` (the delivery id), `webhook-timestamp` (Unix seconds) and
`webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, whose timestamp
lets a receiver refuse a replayed call. The HMAC key is the secret's text, so a Standard
Webhooks library verifies with `"whsec_" + base64(secret)`. A 2xx answer is a success;
anything else a failure. Webhooks go out through the outbound policy (app/outbound.py), so a
rule cannot aim them at Pulse's own services or the loopback. What viewers see of a failure
(`last_error`) is "delivery failed: could not connect" for a refused, unreachable or silent
receiver alike, or the HTTP status: a receiver's words and the difference between a closed
and a filtered port stay in the server log.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from email.message import EmailMessage
from typing import Any

import orjson
from sqlalchemy import text

from app.metrics import ALERT_DELIVERIES
from app.outbound import outbound_policy, outbound_session
from app.services import Services
from data.domain.url_secrets import mask_url
from data.stores.history import to_datetime
from data.stores.mail import SmtpServer
from data.stores.mail import send as send_mail

log = logging.getLogger(__name__)
LEASE_S = 120
CLAIM_BATCH = 20
MAX_BACKOFF_S = 600.0
SIGNATURE_HEADER = "X-Pulse-Signature"

_CLAIM = text(
    """
    UPDATE alert_deliveries d SET status = 'sending', attempts = d.attempts + 1,
           next_attempt_at = :now + make_interval(secs => :lease)
    FROM (SELECT delivery_id FROM alert_deliveries
          WHERE status IN ('pending', 'retrying', 'sending') AND next_attempt_at <= :now
          ORDER BY next_attempt_at LIMIT :n FOR UPDATE SKIP LOCKED) due,
         incidents i, alert_rules r
    WHERE d.delivery_id = due.delivery_id AND i.incident_id = d.incident_id
      AND r.rule_id = i.rule_id
    RETURNING d.delivery_id, d.channel, d.target, d.payload, d.attempts, r.webhook_secret
    """
)


def signature(secret: str, body: bytes) -> str:
    """The signature header's value of a webhook body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def standard_signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks `webhook-signature` value: v1,<base64 HMAC-SHA256>."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def standard_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of a call (the key is the secret's text)."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(secret.encode(), message_id, timestamp, body),
    }


class Deliverer:
    """Sends due deliveries; `run_once` is the worker's job (every second)."""

    def __init__(self, services: Services, threads: int = 8) -> None:
        self.services = services
        self.settings = services.settings
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="delivery")

    def run_once(self) -> int:
        """Claim and send the due deliveries; how many were attempted."""
        with self.services.engine.begin() as conn:
            due = {"lease": LEASE_S, "n": CLAIM_BATCH, **self._now()}
            claimed = conn.execute(_CLAIM, due).all()
        if claimed:
            list(self.pool.map(self._attempt, claimed))
        return len(claimed)

    def close(self) -> None:
        self.pool.shutdown(wait=False)

    def _now(self) -> dict[str, datetime]:
        """The `:now` of a statement: due times, leases and sends are on the injected clock."""
        return {"now": to_datetime(self.services.now_ms())}

    def _attempt(self, row: Any) -> None:
        payload = row.payload if isinstance(row.payload, dict) else orjson.loads(row.payload)
        try:
            if row.channel == "webhook":
                self._webhook(row.delivery_id, row.target, payload, row.webhook_secret or "")
            else:
                self._email(row.target, payload)
        except Exception as exc:  # any failure is recorded on the row and retried
            log.warning("delivery %s failed: %s: %s", row.delivery_id, type(exc).__name__, exc)
            self._failed(row, _shown_error(exc), retry=not isinstance(exc, SmtpNotConfigured))
            return
        with self.services.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE alert_deliveries SET status = 'sent', sent_at = :now,"
                    " last_error = NULL WHERE delivery_id = :id"
                ),
                {"id": row.delivery_id, **self._now()},
            )
        ALERT_DELIVERIES.labels(row.channel, "sent").inc()

    def _failed(self, row: Any, error: str, retry: bool = True) -> None:
        final = not retry or row.attempts >= self.settings.alert_delivery_attempts
        delay = min(self.settings.alert_retry_base_s * 2 ** (row.attempts - 1), MAX_BACKOFF_S)
        with self.services.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE alert_deliveries SET status = :status, last_error = :error,"
                    " next_attempt_at = :now + make_interval(secs => :delay)"
                    " WHERE delivery_id = :id"
                ),
                {
                    "id": row.delivery_id,
                    "status": "failed" if final else "retrying",
                    "error": error,
                    "delay": delay,
                    **self._now(),
                },
            )
        ALERT_DELIVERIES.labels(row.channel, "failed" if final else "retry").inc()
        log.warning(
            "delivery %s to %s failed (attempt %d): %s",
            row.delivery_id,
            mask_url(row.target),
            row.attempts,
            error,
        )

    def _webhook(self, delivery_id: str, url: str, payload: dict[str, Any], secret: str) -> None:
        body = orjson.dumps(payload)
        timestamp = int(self.services.clock())
        policy = outbound_policy(self.settings)
        with outbound_session(policy) as session:
            resp = session.post(
                url,
                data=body,
                headers={
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: signature(secret, body),
                    **standard_headers(secret, delivery_id, timestamp, body),
                    "X-Pulse-Delivery": delivery_id,
                    "X-Pulse-Event": str(payload.get("event", "")),
                    "User-Agent": "Pulse-Alerts/1",
                },
                timeout=self.settings.webhook_timeout_s,
                allow_redirects=False,
                stream=True,
            )
            resp.close()  # the receiver's body is never read, let alone shown
        if not 200 <= resp.status_code < 300:
            raise WebhookRefused(f"HTTP {resp.status_code}")

    def _email(self, address: str, payload: dict[str, Any]) -> None:
        s = self.settings
        if not s.smtp_host:
            raise SmtpNotConfigured("SMTP_HOST is not set")
        message = EmailMessage()
        state = payload.get("state", "")
        message["Subject"] = (
            f"[Pulse] {payload.get('severity', '')} {state}: {payload.get('message', '')}"[:250]
        )
        message["From"] = s.smtp_from
        message["To"] = address
        message["X-Pulse-Idempotency-Key"] = str(payload.get("idempotency_key", ""))
        lines = [str(payload.get("message", "")), ""]
        for key in (
            "state",
            "severity",
            "metric",
            "source",
            "value",
            "timestamp",
            "rule",
            "incident_id",
        ):
            lines.append(f"{key}: {payload.get(key)}")
        message.set_content("\n".join(lines) + "\n")
        server = SmtpServer.of(s)
        assert server is not None  # SMTP_HOST was checked above
        send_mail(server, message)


SMTP_NOT_CONFIGURED = "e-mail is not configured"


def _shown_error(exc: Exception) -> str:
    """What the incident shows of a failed delivery: the receiver's status, or one message
    for every way of not getting through (policy, refused, unreachable, timed out)."""
    if isinstance(exc, WebhookRefused):
        return f"delivery failed: {exc}"
    if isinstance(exc, SmtpNotConfigured):
        return f"{SMTP_NOT_CONFIGURED} (SMTP_HOST is not set)"
    return "delivery failed: could not connect"


class WebhookRefused(RuntimeError):
    """The receiver answered with a non-2xx status."""


class SmtpNotConfigured(RuntimeError):
    """E-mail was asked for, but SMTP_HOST is not set: no point in retrying."""
