"""/api/pipeline: the pipeline's books for the admins of a tenant
(see data/stores/accounting.py)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from app.api.document import Operation, documented
from app.api.schemas import DEFAULT_MINUTES, MAX_MINUTES, AccountingAnswer, AccountingParams
from app.errors import ApiError
from app.web.auth import principal, services
from data.domain.timefmt import iso_ms
from data.stores.accounting import Accounting, last_reconcile, totals

# Nested under the /api blueprint (app/api/__init__.py), so its endpoints are "api.pipeline.*".
bp = Blueprint("pipeline", __name__, url_prefix="/pipeline")


def _minutes_param() -> int:
    raw = request.args.get("minutes", str(DEFAULT_MINUTES))
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_MINUTES:
        raise ApiError(
            422,
            "invalid_parameter",
            f"minutes must be a whole number from 1 to {MAX_MINUTES}",
            [{"field": "minutes", "value": raw[:50]}],
        )
    return int(raw)


@bp.get("/accounting")
@documented(Operation({200: AccountingAnswer}, query=AccountingParams))
def accounting() -> Response:
    """The tenant's books for each of the last `minutes` minutes, their totals, the ingest
    stream's lag and the last reconcile result (admins)."""
    who = principal(role="admin")
    minutes = _minutes_param()
    svc = services()
    now_ms = svc.now_ms()
    rows = Accounting(svc.live, svc.engine).minutes(
        who.tenant_id, now_ms - (minutes - 1) * 60_000, now_ms + 1
    )
    state = svc.live.pipeline_state()
    return jsonify(
        {
            "tenant": who.tenant_id,
            "minutes": minutes,
            "as_of": iso_ms(now_ms, "seconds"),
            "rows": [row.as_dict() for row in rows],
            "totals": totals(rows),
            "stream": {
                "lag_s": state["age_ms"] / 1000,
                "pending": state["pending"],
                "undelivered": state["lag"],
            },
            "reconcile": last_reconcile(svc.live, who.tenant_id),
        }
    )
